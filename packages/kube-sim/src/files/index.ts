export { generateFileTree, markerPath, ODDITIES } from './generate';
export type { FileTreeSpec, FileTreeEntry } from './generate';
export { parseSize } from './size';
export { compareTrees } from './compare';
export type { CompareOptions } from './compare';
