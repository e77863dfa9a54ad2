// Checkpoints: tensors and string metadata in safetensors files.
export { save, load, CheckpointError, MAX_HEADER_BYTES } from './safetensors.js';
export type { LoadOptions, LoadResult } from './safetensors.js';
