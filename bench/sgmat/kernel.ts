// The generator lives in src/ops/sgmat.ts (setMatmulPrecision('fp16') uses it); the probe and
// the emulator import it from here.
export * from '../../src/ops/sgmat.js';
