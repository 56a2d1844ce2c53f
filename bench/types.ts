/** One line of `npm run bench` output. */
export interface BenchResult {
  bench: string;
  value: number;
  unit: string;
  /** The reference measured side by side in the same run (for example plain `tar`). */
  baseline: number;
  /** value / baseline, or baseline / value for lower-is-better targets; see `target`. */
  ratio: number;
  /** The target in words, for example "ratio >= 0.9". */
  target: string;
  pass: boolean;
  /** Extra figures worth reporting, such as RSS. */
  details?: Record<string, number | string>;
}

export interface Benchmark {
  name: string;
  description: string;
  run(): Promise<BenchResult>;
}
