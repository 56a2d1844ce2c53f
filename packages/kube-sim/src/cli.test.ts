/** The CLI: `kube-sim ready <url>`, the kubeconfig it writes, clean shutdown, data-dir reuse. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { parseArgs } from './cli';
import { kubectl } from './__testutils__/kubectl';

jest.setTimeout(90_000);

const TSX = path.resolve(__dirname, '../../../node_modules/.bin/tsx');
const CLI = path.resolve(__dirname, 'cli.ts');

const children = new Set<ChildProcess>();

afterEach(() => {
  // never leave a kube-sim running when an expectation fails half-way
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM'); // tsx relays it to kube-sim
  children.clear();
});

function startCli(args: string[]): { child: ChildProcess; ready: Promise<string>; exit: Promise<number | null> } {
  const child = spawn(TSX, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', c => {
      out += c;
      const m = out.match(/^kube-sim ready (\S+)\n/);
      if (m) resolve(m[1]);
    });
    child.on('close', code => reject(new Error(`kube-sim exited with ${code} before ready: ${out}`)));
  });
  child.stderr!.on('data', () => {});
  const exit = new Promise<number | null>(resolve => child.on('close', code => resolve(code)));
  return { child, ready, exit };
}

it('parses the documented flags', () => {
  expect(parseArgs(['--fixture', 'scale', '--port', '6443', '--data-dir', '/d', '--kubeconfig-out', '/k', '--http'])).toEqual({
    fixture: 'scale',
    port: 6443,
    dataDir: '/d',
    kubeconfigPath: '/k',
    http: true,
  });
  expect(parseArgs([])).toEqual({ fixture: 'demo', port: 6443 });
  expect(() => parseArgs(['--nope'])).toThrow(/unknown argument --nope/);
  expect(() => parseArgs(['--port', 'x'])).toThrow(/invalid --port/);
});

it('prints "kube-sim ready <url>", serves kubectl, stops on SIGTERM and reuses its data dir', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kube-sim-cli-'));
  const kubeconfigPath = path.join(dataDir, 'out', 'config');
  const args = ['--fixture', 'demo', '--port', '0', '--data-dir', dataDir, '--kubeconfig-out', kubeconfigPath];
  const first = startCli(args);
  const url = await first.ready;
  expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const cfg = parse(await fs.readFile(kubeconfigPath, 'utf8'));
  expect(cfg['current-context']).toBe('kube-sim-admin');
  expect(cfg.contexts.map((c: { name: string }) => c.name)).toEqual(['kube-sim-admin', 'kube-sim-restricted']);
  expect(cfg.clusters[0].cluster.server).toBe(url);
  const r = await kubectl(['get', 'ns', '-o', 'name'], { kubeconfigPath });
  expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['namespace/payments', 'namespace/search', 'namespace/platform']));

  const pvs = (await fs.readdir(path.join(dataDir, 'pvs'))).filter(n => !n.endsWith('.json'));
  expect(pvs).toHaveLength(9);
  const keep = path.join(dataDir, 'pvs', pvs[0]);
  const removed = path.join(dataDir, 'pvs', pvs[1]);
  const keepCtime = statSync(keep).ctimeMs;
  first.child.kill('SIGTERM');
  expect(await first.exit).toBe(0);

  // restart on the same data dir: the missing tree is regenerated, the intact one is left alone
  await fs.rm(removed, { recursive: true, force: true });
  const second = startCli(args);
  await second.ready;
  expect(existsSync(removed)).toBe(true);
  expect((await fs.readdir(removed)).length).toBeGreaterThan(0);
  expect(statSync(keep).ctimeMs).toBe(keepCtime);
  second.child.kill('SIGINT');
  expect(await second.exit).toBe(0);
  await fs.rm(dataDir, { recursive: true, force: true });
});
