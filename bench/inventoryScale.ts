import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createVolumeInventory } from '../plugins/volume-manager-backend/src/services/VolumeInventory/VolumeInventory';
import type { Benchmark } from './types';
import { KUBECTL, median, peakRssGrowthMb, registryFor, startSimProcess, timeCommand, timeIt } from './support';

const ROUNDS = 3;

/**
 * Our inventory of kube-sim's `scale` fixture (5,000 PVCs, 20,000 pods, 500 namespaces) against
 * `kubectl get pvc,pods -A -o json --chunk-size=500` on the same simulator, alternating rounds.
 */
export const inventoryScale: Benchmark = {
  name: 'inventory-scale',
  description: 'inventory of 5,000 PVCs / 20,000 pods vs kubectl get pvc,pods -A -o json',
  async run() {
    const sim = await startSimProcess('scale');
    try {
      const { registry, config } = registryFor(sim.kubeconfigPath, { discovery: { timeoutSeconds: 120 } });
      const inventory = createVolumeInventory({ registry, config });
      const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'kubectl-cache-'));
      const kubectl = () =>
        timeCommand(KUBECTL, ['--kubeconfig', sim.kubeconfigPath, '--cache-dir', cacheDir,
          'get', 'pvc,pods', '-A', '-o', 'json', '--chunk-size=500']);
      // Warm both (discovery cache, TLS, JIT) before measuring.
      await kubectl();
      const warm = await inventory.list({ entities: [] });
      if (warm.items.length !== 5000 || warm.errors.length > 0) {
        throw new Error(`inventory saw ${warm.items.length} PVCs and errors ${JSON.stringify(warm.errors)}`);
      }
      const ours: number[] = [];
      const theirs: number[] = [];
      let rss = 0;
      for (let i = 0; i < ROUNDS; i++) {
        theirs.push(await kubectl());
        const { growthMb, value } = await peakRssGrowthMb(() => timeIt(() => inventory.list({ entities: [] })));
        ours.push(value.seconds);
        rss = Math.max(rss, growthMb);
      }
      const value = median(ours);
      const baseline = median(theirs);
      const ratio = value / baseline;
      return {
        bench: 'inventory-scale',
        value: Number(value.toFixed(3)),
        unit: 's',
        baseline: Number(baseline.toFixed(3)),
        ratio: Number(ratio.toFixed(3)),
        target: 'ratio <= 1.2 (our time / kubectl time)',
        pass: ratio <= 1.2,
        details: { rssGrowthMb: Number(rss.toFixed(1)), pvcs: 5000, rounds: ROUNDS },
      };
    } finally {
      await sim.stop();
    }
  },
};
