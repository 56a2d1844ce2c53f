import type { Benchmark } from './types';

/**
 * Every benchmark `npm run bench` knows. The performance targets of DESIGN.md §7 land here with
 * the features they measure: inventory-scale, backup-throughput, backup-parallel, backup-rss,
 * upload-ftp, upload-scp and ui-entity-500.
 */
export const benchmarks: Benchmark[] = [];
