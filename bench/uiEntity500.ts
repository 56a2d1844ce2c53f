/*
 * ui-entity-500: the Volumes tab of an entity that owns 500 PVCs, opened in headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core), against the production path: the
 * frontend built by `backstage-cli package build` (packages/app/dist) and served by app-backend
 * from the demo backend (packages/backend), which reads a kube-sim with 500 PVCs.
 *
 * "Interactive" is measured in the page, from navigation start (performance.timeOrigin of a
 * full page load of /catalog/default/component/bench-500/volumes, signed in as the guest) to
 * the first animation frame in which
 *   - the table shows the entity's 500 PVCs (title "Persistent volume claims (500)") with its
 *     first page of rows rendered, and
 *   - the "Select all 500 volumes" checkbox is enabled (permissions resolved: the guest owns the
 *     entity, so backups are allowed).
 * After that the checkbox is clicked and the time until "500 selected" renders is reported as
 * the input latency. One warm-up load, then the median of ROUNDS loads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Benchmark, BenchResult } from './types';
import { median, repoRoot, startSimProcess } from './support';

const PVCS = 500;
const ROUNDS = 5;
const TARGET_MS = 1500;
const ENTITY = 'bench-500';

function fixture() {
  return {
    name: 'ui-entity-500',
    nodes: [{ name: 'node-a' }, { name: 'node-b' }],
    namespaces: [{ name: 'bench' }],
    storageClasses: [{ name: 'standard', default: true, provisioner: 'rancher.io/local-path' }],
    workloads: [
      {
        kind: 'StatefulSet',
        name: ENTITY,
        namespace: 'bench',
        replicas: PVCS,
        labels: { 'backstage.io/kubernetes-id': ENTITY },
        selector: { app: ENTITY },
        podSpec: {
          containers: [
            { name: 'app', image: 'alpine:3.20', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
          ],
        },
        volumeClaimTemplates: [
          {
            name: 'data',
            labels: { 'backstage.io/kubernetes-id': ENTITY },
            storageClass: 'standard',
            accessModes: ['ReadWriteOnce'],
            size: '1Gi',
            files: { seed: 1, files: 1, totalBytes: 1024, compressibility: 0.5, depth: 1 },
          },
        ],
      },
    ],
  };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || /\.test\.tsx?$/.test(entry.name)) continue;
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', d => (stderr += d));
    child.on('exit', code =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`)),
    );
  });
}

/** Builds packages/app unless its dist is newer than the app's and the plugin's sources. */
async function ensureAppBuild(): Promise<'built' | 'reused'> {
  const appDir = path.join(repoRoot, 'packages/app');
  const index = path.join(appDir, 'dist/index.html');
  const sources = Math.max(
    newestMtime(path.join(appDir, 'src')),
    newestMtime(path.join(repoRoot, 'plugins/volume-manager/src')),
    newestMtime(path.join(repoRoot, 'plugins/volume-manager-common/src')),
  );
  if (existsSync(index) && statSync(index).mtimeMs > sources) return 'reused';
  console.error('[bench] building packages/app (backstage-cli package build)…');
  await run('npx', ['backstage-cli', 'package', 'build'], appDir);
  return 'built';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function startBackend(kubeconfigPath: string): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-ui-bench-'));
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const catalogFile = path.join(dir, 'bench-catalog.yaml');
  writeFileSync(
    catalogFile,
    stringify({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: {
        name: ENTITY,
        annotations: { 'backstage.io/kubernetes-id': ENTITY, 'backstage.io/kubernetes-namespace': 'bench' },
      },
      spec: { type: 'service', lifecycle: 'production', owner: 'team-payments' },
    }),
  );
  const configFile = path.join(dir, 'app-config.bench.yaml');
  writeFileSync(
    configFile,
    stringify({
      app: { baseUrl: url },
      // The backend runs with NODE_ENV=production; the demo's guest sign-in must be allowed there.
      auth: {
        providers: {
          guest: { userEntityRef: 'user:default/guest', dangerouslyAllowOutsideDevelopment: true },
        },
      },
      backend: { baseUrl: url, listen: { port }, cors: { origin: url } },
      catalog: {
        locations: [
          { type: 'file', target: path.join(repoRoot, 'catalog/org.yaml') },
          { type: 'file', target: catalogFile },
        ],
      },
      volumeManager: { clusters: [{ name: 'kube-sim', kubeconfigPath, context: 'kube-sim-admin' }] },
    }),
  );
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'packages/backend/src/index.ts'),
      '--config', path.join(repoRoot, 'app-config.yaml'), '--config', configFile],
    {
      cwd: path.join(repoRoot, 'packages/backend'),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        NKVM_METADATA_DB_PATH: path.join(dir, 'backups.db'),
        NKVM_BACKUP_DIR: path.join(dir, 'backups'),
      },
    },
  );
  let output = '';
  child.stdout!.on('data', d => (output += d));
  child.stderr!.on('data', d => (output += d));
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([new Promise(r => child.once('exit', r)), new Promise(r => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`backend exited ${child.exitCode}:\n${output.slice(-4000)}`);
    try {
      const [health, app] = await Promise.all([
        fetch(`${url}/api/volume-manager/health`),
        fetch(`${url}/catalog`),
      ]);
      if (health.ok && app.ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`backend did not start:\n${output.slice(-4000)}`);
    }
    await new Promise(r => setTimeout(r, 500));
  }
  return { url, stop };
}

export const uiEntity500: Benchmark = {
  name: 'ui-entity-500',
  description: `entity Volumes tab with ${PVCS} PVCs: interactive in headless Chromium (production build)`,
  async run(): Promise<BenchResult> {
    const build = await ensureAppBuild();
    const sim = await startSimProcess(fixture());
    let backend: { url: string; stop(): Promise<void> } | undefined;
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      backend = await startBackend(sim.kubeconfigPath);
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      await page.goto(`${backend.url}/`);
      await page.getByRole('button', { name: /enter/i }).click();
      await page.waitForURL(/\/catalog/, { timeout: 60_000 }).catch(async error => {
        await page.screenshot({ path: path.join(repoRoot, 'test-output', 'bench-ui-entity-500-failure.png') });
        throw error;
      });

      const url = `${backend.url}/catalog/default/component/${ENTITY}/volumes`;
      const measure = async () => {
        await page.goto(url, { waitUntil: 'commit' });
        const interactive = (await (
          await page.waitForFunction(
            (n: number) => {
              const title = Array.from(document.querySelectorAll('h2')).some(
                h => h.textContent === `Persistent volume claims (${n})`,
              );
              const rows = document.querySelectorAll('tr[data-volume]').length;
              const box = document.querySelector<HTMLInputElement>(
                `input[aria-label="Select all ${n} volumes"]`,
              );
              return title && rows >= 25 && box && !box.disabled ? performance.now() : false;
            },
            PVCS,
            { polling: 'raf', timeout: 60_000 },
          )
        ).jsonValue()) as number;
        const clickStart = await page.evaluate(() => performance.now());
        await page.getByRole('checkbox', { name: `Select all ${PVCS} volumes` }).click();
        const selected = (await (
          await page.waitForFunction(
            (n: number) =>
              Array.from(document.querySelectorAll('p')).some(p => p.textContent === `${n} selected`)
                ? performance.now()
                : false,
            PVCS,
            { polling: 'raf', timeout: 30_000 },
          )
        ).jsonValue()) as number;
        if (await page.getByRole('button', { name: 'Back up selected' }).isDisabled()) {
          throw new Error('"Back up selected" is still disabled after selecting every PVC');
        }
        return { interactive, clickToSelected: selected - clickStart };
      };

      let cold;
      try {
        cold = await measure();
      } catch (error) {
        await page.screenshot({ path: path.join(repoRoot, 'test-output', 'bench-ui-entity-500-failure.png') });
        throw error;
      }
      const rounds = [];
      for (let i = 0; i < ROUNDS; i++) rounds.push(await measure());
      await page.screenshot({ path: path.join(repoRoot, 'test-output', 'bench-ui-entity-500.png') }).catch(() => undefined);
      const value = median(rounds.map(r => r.interactive));
      const click = median(rounds.map(r => r.clickToSelected));
      return {
        bench: 'ui-entity-500',
        value: Math.round(value),
        unit: 'ms from navigation start to interactive',
        baseline: TARGET_MS,
        ratio: Number((value / TARGET_MS).toFixed(3)),
        target: `<= ${TARGET_MS} ms (ratio = value / target)`,
        pass: value <= TARGET_MS,
        details: {
          pvcs: PVCS,
          rounds: ROUNDS,
          coldFirstLoadMs: Math.round(cold.interactive),
          allRoundsMs: rounds.map(r => Math.round(r.interactive)).join(','),
          selectAllClickToRenderMs: Math.round(click),
          frontend: `packages/app production build (${build}), served by app-backend`,
          definition: 'first frame with the 500-PVC title, the first page of rows and an enabled select-all checkbox',
        },
      };
    } finally {
      await browser.close();
      await backend?.stop();
      await sim.stop();
    }
  },
};
