export { createRandom } from './prng.js';
export {
  argmaxLogits,
  createSampler,
  type Sampler,
  type SamplingParams,
  SamplingParamsError,
} from './sampler.js';
export { StopSequenceMatcher } from './stop.js';
