// grilly/data: datasets (embedded MNIST, IDX files, N-MNIST, SHD) and the DataLoader.
export { loadEmbeddedMnist } from './mnist.js';
export type { MnistSplit } from './mnist.js';
export { DatasetError } from './errors.js';
export { EmbeddedMNIST } from './dataset.js';
export type { Dataset, Sample, EmbeddedMNISTOptions } from './dataset.js';
export { IdxDataset, readIdx } from './idx.js';
export type { IdxDatasetOptions, IdxArray } from './idx.js';
export { NMNIST } from './nmnist.js';
export type { NMNISTOptions } from './nmnist.js';
export { SHD } from './shd.js';
export type { SHDOptions, SHDBinning, SHDSpikes } from './shd.js';
export { decodeAtisEvents, segmentIndices, integrateEventsToFrames } from './events.js';
export type { Events, AtisEvents, SplitBy, SegmentOptions, FrameOptions } from './events.js';
export { DataLoader } from './loader.js';
export type { Batch, DataLoaderOptions, Transform } from './loader.js';
