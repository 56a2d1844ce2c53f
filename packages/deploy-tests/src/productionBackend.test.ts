/*
 * The container's runtime, rehearsed without Docker (none runs here). The backend starts the way
 * the Dockerfile's ENTRYPOINT starts it, with its ENV defaults, app-config.production.yaml and
 * the Kubernetes ConfigMap's app-config, as UID/GID 10001 (setpriv), so that nothing outside the
 * volumes it owns is writable — what readOnlyRootFilesystem enforces in the cluster. It must
 * answer /api/volume-manager/health (through the image's own HEALTHCHECK command), serve the
 * built frontend with the runtime config injected, create its SQLite file at
 * NKVM_METADATA_DB_PATH, and back up a PVC from kube-sim through the full portal stack.
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { APP_DIR, REPO_ROOT, SERVICE_ACCOUNT_USER, readYamlDocs, run, serviceAccountPolicy } from './__testUtils__/repo';
import { readRuntimeStage } from './__testUtils__/dockerfile';
import { tempDir } from './__testUtils__/kubeSimBackend';

jest.setTimeout(900_000);

const stage = readRuntimeStage();
const [UID, GID] = stage.user.split(':').map(Number);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** The frontend build the image serves (the Dockerfile builds it the same way). */
async function ensureFrontendBuild() {
  const dist = path.join(REPO_ROOT, 'packages/app/dist');
  if (existsSync(path.join(dist, 'index.html.tmpl')) && existsSync(path.join(dist, 'static'))) return;
  await run('flock', ['/tmp/nkvm-app-build.lock', 'npx', 'backstage-cli', 'package', 'build'], {
    cwd: path.join(REPO_ROOT, 'packages/app'),
    // Jest sets NODE_ENV=test, which has no browserslist entry; the image builds for production.
    env: { ...process.env, NODE_ENV: 'production' },
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** A directory the image creates and hands to nkvm. */
function writableDir(dir: string) {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, UID, GID);
}

interface ProductionBackend {
  base: string;
  dbPath: string;
  backupDir: string;
  output: () => string;
  stop: () => Promise<void>;
}

/**
 * Starts the backend as the image does: ENTRYPOINT + the ConfigMap's app-config + a test
 * overlay, the Dockerfile's ENV, as 10001 with only the image's writable paths writable.
 */
async function startProductionBackend(options: { kubeconfig: string; extraEnv?: Record<string, string> }): Promise<ProductionBackend> {
  // The image's writable paths, owned by 10001 like the image makes them.
  const root = tempDir('image-root');
  const backupDir = path.join(root, stage.env.NKVM_BACKUP_DIR);
  const dbPath = path.join(root, stage.env.NKVM_METADATA_DB_PATH);
  for (const d of [path.dirname(backupDir), backupDir, path.dirname(dbPath), path.join(root, 'tmp'), path.join(root, 'etc/nkvm')]) writableDir(d);
  chownSync(root, UID, GID);

  // A remote cluster as the Secret example mounts it: kube-sim with the RBAC's token.
  const kubeconfig = path.join(root, 'etc/nkvm/kubeconfig');
  writeFileSync(kubeconfig, readFileSync(options.kubeconfig), { mode: 0o440 });
  chownSync(kubeconfig, 0, GID);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // Test-only overlay: the port, guest sign-in (the demo image ships no other provider),
  // and the kube-sim cluster next to the ConfigMap's in-cluster one.
  const overlay = path.join(root, 'etc/nkvm/app-config.test.yaml');
  writeFileSync(
    overlay,
    [
      `backend: { listen: { port: ${port} } }`,
      'auth: { providers: { guest: { userEntityRef: "user:default/guest", dangerouslyAllowOutsideDevelopment: true } } }',
      `volumeManager: { clusters: [{ name: in-cluster, inCluster: true }, { name: sim, kubeconfigPath: ${JSON.stringify(kubeconfig)} }] }`,
    ].join('\n'),
  );

  // In the image /app is world-readable. A checkout under a private directory (a CI clone
  // under /root, say) is not: then nkvm may read (CAP_DAC_READ_SEARCH), still never write.
  const asNkvm = [`--reuid=${UID}`, `--regid=${GID}`, '--clear-groups'];
  const readable = await run('setpriv', [...asNkvm, '--', 'test', '-r', path.join(REPO_ROOT, 'package.json')]).then(
    () => true,
    () => false,
  );
  if (!readable) asNkvm.push('--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search');

  const [command, ...args] = stage.entrypoint;
  const child = spawn(
    'setpriv',
    [...asNkvm, '--', command, ...args, '--config', path.join(APP_DIR, 'app-config.kubernetes.yaml'), '--config', overlay],
    {
      cwd: REPO_ROOT, // the image's WORKDIR /app holds the same tree
      env: {
        PATH: process.env.PATH,
        HOME: '/nonexistent',
        TMPDIR: path.join(root, 'tmp'),
        ...stage.env,
        APP_BASE_URL: base,
        NKVM_BACKUP_DIR: backupDir,
        NKVM_METADATA_DB_PATH: dbPath,
        ...options.extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', d => (output += d));
  child.stderr!.on('data', d => (output += d));
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise(r => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`backend exited ${child.exitCode}:\n${output.slice(-4000)}`);
    const ok = await fetch(`${base}/api/volume-manager/health`).then(r => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`backend not healthy in time:\n${output.slice(-4000)}`);
    }
    await new Promise(r => setTimeout(r, 500));
  }
  return { base, dbPath, backupDir, output: () => output, stop };
}

/** The test PostgreSQL, with npm test's default; never skipped. */
function postgresUrl(): string {
  return process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING ?? 'postgresql://postgres@127.0.0.1:5432';
}

async function guestHeaders(base: string) {
  const refresh = await fetch(`${base}/api/auth/guest/refresh`, { headers: { 'X-Requested-With': 'XMLHttpRequest' } });
  expect(refresh.status).toBe(200);
  const token = (await refresh.json()).backstageIdentity.token as string;
  return { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
}

let sim: KubeSim;
let saKubeconfig: string;

beforeAll(async () => {
  await ensureFrontendBuild();
  sim = await startKubeSim({ fixture: 'demo' });
  const token = 'nkvm-prod-sa';
  sim.addToken(token, serviceAccountPolicy(['payments', 'search', 'platform']).rules as any, { user: SERVICE_ACCOUNT_USER });
  saKubeconfig = path.join(tempDir('prod-sa'), 'kubeconfig');
  writeFileSync(saKubeconfig, sim.kubeconfigFor(token));
});

afterAll(async () => {
  await sim?.stop();
});

describe('the production runtime (Dockerfile runtime stage, outside Docker)', () => {
  let backend: ProductionBackend;
  let base: string;
  let dbPath: string;

  beforeAll(async () => {
    backend = await startProductionBackend({ kubeconfig: saKubeconfig });
    ({ base, dbPath } = backend);
  });

  afterAll(async () => {
    await backend?.stop();
  });

  it('the Dockerfile keeps its guardrails: non-root 10001, the three env defaults, no kubectl', () => {
    expect(stage.user).toBe('10001:10001');
    expect(stage.env).toMatchObject({
      NKVM_BACKUP_DIR: '/var/lib/nkvm/backups',
      NKVM_METADATA_DB_PATH: '/var/lib/nkvm/data/backups.db',
      NKVM_DEFAULT_AUTH_MODE: 'in-cluster',
      NODE_ENV: 'production',
    });
    expect(stage.args.BUILD_IMAGE).toMatch(/^node:20[.-].*slim/);
    expect(stage.args.RUNTIME_IMAGE).toMatch(/^node:20[.-].*slim/);
    expect(stage.entrypoint).toEqual(expect.arrayContaining(['app-config.production.yaml']));
    expect(stage.healthcheck[0]).toBe('node');
    // No kubectl anywhere in the build: the backend is its own Kubernetes client (ADR-002).
    const instructionsOnly = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8')
      .split('\n')
      .filter(l => !l.trim().startsWith('#'))
      .join('\n');
    expect(instructionsOnly).not.toMatch(/kubectl/i);
  });

  it('answers /api/volume-manager/health, also through the image HEALTHCHECK command', async () => {
    const res = await fetch(`${base}/api/volume-manager/health`);
    expect(res.status).toBe(200);
    const [cmd, script] = stage.healthcheck;
    const scriptPath = path.join(REPO_ROOT, path.relative(stage.workdir, script));
    await expect(
      run(cmd, [scriptPath], { env: { ...process.env, NKVM_HEALTHCHECK_PORT: new URL(base).port } }),
    ).resolves.toBeDefined();
    // ... and the same command fails when nothing answers.
    await expect(run(cmd, [scriptPath], { env: { ...process.env, NKVM_HEALTHCHECK_PORT: '1' } })).rejects.toThrow();
  });

  it('serves the built frontend with the runtime config injected', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<div id="root">');
    // app-backend renders index.html.tmpl in memory: APP_BASE_URL reaches the browser.
    expect(html).toContain(base);
    const script = /src="([^"]*\/static\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(new URL(script!, base));
    expect(asset.status).toBe(200);
    // A client-side route falls back to the app.
    const route = await fetch(`${base}/catalog/default/component/payments-api/volumes`);
    expect(route.status).toBe(200);
  });

  it('keeps its run records in SQLite at NKVM_METADATA_DB_PATH', () => {
    expect(existsSync(dbPath)).toBe(true);
  });

  it('signs in (guest overlay), lists volumes with the RBAC token, and enforces the permission policy', async () => {
    const headers = await guestHeaders(base);

    const clusters = JSON.stringify(await (await fetch(`${base}/api/volume-manager/clusters`, { headers })).json());
    expect(clusters).toContain('in-cluster');
    expect(clusters).toContain('"sim"');

    const volumes = await fetch(`${base}/api/volume-manager/volumes?cluster=sim`, { headers });
    expect(volumes.status).toBe(200);
    const inventory = await volumes.json();
    expect(inventory.errors).toEqual([]);
    expect(inventory.items.length).toBeGreaterThanOrEqual(10);

    // The demo policy: only an entity's owners (or admins) may back it up; the guest owns nothing
    // in this empty production catalog.
    const created = await fetch(`${base}/api/volume-manager/backups`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ cluster: 'sim', volumes: [{ namespace: 'platform', name: 'platform-scratch' }], destination: 'local' }),
    });
    expect(created.status).toBe(403);
    // Unauthenticated callers get nothing but /health.
    expect((await fetch(`${base}/api/volume-manager/volumes?cluster=sim`)).status).toBe(401);
  });
});

describe('with the optional PostgreSQL Secret (deploy/k8s/app/postgres-connection-secret-example.yaml)', () => {
  let backend: ProductionBackend;
  let prefix: string;

  beforeAll(async () => {
    // The Secret's keys, pointed at the test PostgreSQL (npm test and .ci/run provide it).
    const pg = new URL(postgresUrl());
    const [secret] = readYamlDocs(path.join(APP_DIR, 'postgres-connection-secret-example.yaml'));
    const env: Record<string, string> = { ...secret.stringData };
    const connection = JSON.parse(env.APP_CONFIG_backend_database_connection);
    const keys = Object.keys(connection).sort().join(',');
    if (keys !== 'host,password,port,ssl,user') {
      throw new Error(`The PostgreSQL Secret example's connection has keys ${keys}, expected host,password,port,ssl,user`);
    }
    env.APP_CONFIG_backend_database_connection = JSON.stringify({
      host: pg.hostname,
      port: Number(pg.port || 5432),
      user: decodeURIComponent(pg.username),
      password: decodeURIComponent(pg.password),
    });
    // Fresh databases for this run (the plugin-per-database names get this prefix).
    env.APP_CONFIG_backend_database_prefix = `nkvm_deploy_${Date.now().toString(36)}_`;
    prefix = env.APP_CONFIG_backend_database_prefix;
    backend = await startProductionBackend({ kubeconfig: saKubeconfig, extraEnv: env });
  });

  afterAll(async () => {
    await backend?.stop();
    // Drop the databases this run created.
    const url = postgresUrl();
    const { stdout } = await run('psql', [url, '-Atc', `select datname from pg_database where datname like '${prefix}%'`]);
    for (const db of stdout.split('\n').filter(Boolean)) {
      await run('psql', [url, '-c', `DROP DATABASE IF EXISTS "${db}"`]);
    }
  });

  it('keeps the run records in PostgreSQL, not in the SQLite file', async () => {
    expect(existsSync(backend.dbPath)).toBe(false);
    const headers = await guestHeaders(backend.base);
    const history = await fetch(`${backend.base}/api/volume-manager/backups?cluster=sim`, { headers });
    expect(history.status).toBe(200);
    const volumes = await fetch(`${backend.base}/api/volume-manager/volumes?cluster=sim`, { headers });
    expect(volumes.status).toBe(200);
  });
});
