export { DEFAULT_MODEL, defaultCacheDir } from './default-model.js';
export { type PullProgress, stderrProgress } from './progress.js';
export {
  DigestMismatchError,
  PullError,
  type PullOptions,
  type PullSource,
  pullDefaultModel,
} from './pull.js';
export { extractZipEntry, listZip, type ZipEntry, ZipFormatError } from './zip.js';
