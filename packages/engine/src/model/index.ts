export {
  CorruptModelError,
  MissingTensorError,
  ModelFormatError,
  NotAModelFileError,
  TruncatedModelError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
} from './errors.js';
export { type GgufFile, type GgufTensorInfo, type GgufValue, readGguf } from './gguf.js';
export { hfTensorName } from './gguf-model.js';
export { encodeGguf, type GgufWriteTensor, type GgufWriteValue, writeGguf } from './gguf-writer.js';
export { bf16ToF32, f16ToF32, f32ToF16 } from './half.js';
export { openModel } from './open.js';
export { blocksOf, dequantize, type FourBitBlocks, TENSOR_TYPE_LAYOUT, tensorByteSize } from './quant.js';
export { quantizeValues } from './quantize.js';
export { llama3RopeFactors } from './rope.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export { createTinyModel, generateTinyModel, type TinyModelOptions, type TinyWeights } from './tiny.js';
export { createTinyGguf, type TinyGgufOptions } from './tiny-gguf.js';
export type { LlamaConfig, ModelSource, RopeScaling, TensorType, WeightTensor } from './types.js';
