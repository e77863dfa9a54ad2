// grilly/data: datasets and loaders (the CLI issue adds IdxDataset, NMNIST, SHD and DataLoader).
export { loadEmbeddedMnist } from './mnist.js';
export type { MnistSplit } from './mnist.js';
