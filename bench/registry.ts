import type { Benchmark } from './types';
import { backupParallel, backupRss, backupThroughput } from './backup';
import { inventoryScale } from './inventoryScale';

/**
 * Every benchmark `npm run bench` knows (DESIGN.md §7). Still to come with their features:
 * upload-ftp, upload-scp and ui-entity-500.
 */
export const benchmarks: Benchmark[] = [
  inventoryScale,
  backupThroughput,
  backupParallel,
  backupRss,
];
