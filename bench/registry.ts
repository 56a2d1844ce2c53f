import type { Benchmark } from './types';
import { backupParallel, backupRss, backupThroughput } from './backup';
import { dispatchDueAmong } from './dispatchDueAmong';
import { inventoryScale } from './inventoryScale';
import { restoreRss, restoreThroughput } from './restore';
import { uploadFtp, uploadScp } from './uploadRemote';
import { uiEntity500 } from './uiEntity500';

/**
 * Every benchmark `npm run bench` knows (DESIGN.md §7).
 */
export const benchmarks: Benchmark[] = [
  inventoryScale,
  backupThroughput,
  backupParallel,
  backupRss,
  restoreThroughput,
  restoreRss,
  uiEntity500,
  uploadFtp,
  uploadScp,
  dispatchDueAmong,
];
