/** Base class of every error raised while reading a model; `code` is stable for callers. */
export class ModelFormatError extends Error {
  readonly code: string;
  readonly path: string;
  constructor(code: string, path: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.path = path;
  }
}

export class NotAModelFileError extends ModelFormatError {
  constructor(path: string, detail: string) {
    super('not_a_model', path, `${path} is not a GGUF file or Hugging Face model folder: ${detail}`);
  }
}

export class CorruptModelError extends ModelFormatError {
  constructor(path: string, detail: string) {
    super('corrupt_model', path, `${path} is corrupt: ${detail}`);
  }
}

export class TruncatedModelError extends ModelFormatError {
  constructor(path: string, detail: string) {
    super('truncated_model', path, `${path} is truncated: ${detail}`);
  }
}

export class UnsupportedArchitectureError extends ModelFormatError {
  readonly architecture: string;
  constructor(path: string, architecture: string) {
    super(
      'unsupported_architecture',
      path,
      `${path}: architecture "${architecture}" is not supported (supported: llama, qwen2)`,
    );
    this.architecture = architecture;
  }
}

export class UnsupportedTensorTypeError extends ModelFormatError {
  readonly tensorType: string;
  constructor(path: string, tensorName: string, tensorType: string) {
    super(
      'unsupported_tensor_type',
      path,
      `${path}: tensor ${tensorName} has type ${tensorType}, which is not supported ` +
        '(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)',
    );
    this.tensorType = tensorType;
  }
}

export class MissingTensorError extends ModelFormatError {
  readonly tensorName: string;
  constructor(path: string, tensorName: string) {
    super('missing_tensor', path, `${path}: required tensor ${tensorName} is missing`);
    this.tensorName = tensorName;
  }
}
