/*
 * `npm run bench [-- --only NAME]`: runs the benchmarks and prints one JSON line per benchmark:
 * {"bench", "value", "unit", "baseline", "ratio", "target", "pass"}. Each benchmark measures
 * our code and its baseline side by side in the same run, so the ratio is meaningful on any
 * machine. Exit code 1 when a benchmark misses its target.
 */
import type { Benchmark, BenchResult } from './types';
import { benchmarks } from './registry';

function parseArgs(argv: string[]): { only?: string } {
  const i = argv.indexOf('--only');
  if (i >= 0) {
    const only = argv[i + 1];
    if (!only) throw new Error('--only needs a benchmark name');
    return { only };
  }
  return {};
}

async function main() {
  const { only } = parseArgs(process.argv.slice(2));
  const selected: Benchmark[] = only ? benchmarks.filter(b => b.name === only) : benchmarks;
  if (only && selected.length === 0) {
    console.error(
      `No benchmark named '${only}'. Known: ${benchmarks.map(b => b.name).join(', ') || 'none yet'}`,
    );
    process.exit(2);
  }
  if (selected.length === 0) {
    console.error('No benchmarks are registered yet (bench/registry.ts).');
    return;
  }
  let failed = false;
  for (const bench of selected) {
    console.error(`[bench] ${bench.name}: ${bench.description}`);
    const result: BenchResult = await bench.run();
    failed ||= !result.pass;
    console.log(JSON.stringify(result));
  }
  if (failed) process.exitCode = 1;
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
