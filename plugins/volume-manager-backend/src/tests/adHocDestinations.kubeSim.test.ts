/*
 * The attack on one-off (ad-hoc) destinations, performed: a user types a host and port and the
 * backend is to connect there. Inside targets (a database port on loopback, the cloud metadata
 * address, names that resolve to loopback, cluster service names) must be refused with a 400
 * before any socket opens, a user without `volume-manager.destination.adhoc` gets a 403, and a
 * backend whose allow-list names 127.0.0.1 shows the same request does reach the listener (so
 * the listener would have seen the attack).
 */
import { promises as dns } from 'node:dns';
import net from 'node:net';
import { mockCredentials } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { startKubeSim, type Fixture, type KubeSim } from '@nkvm/kube-sim';
import type { BackupRun } from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import request from 'supertest';
import { capturingRootLogger, type CapturedLogs } from '../__testUtils__/captureLogger';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { adHocFailureMessage } from '../services/ArchiveSinks/AdHocArchiveSink';

jest.setTimeout(120_000);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');
type Server = Parameters<typeof request>[0];

const fixture: Fixture = {
  name: 'adhoc-attack',
  nodes: [{ name: 'node-a' }],
  namespaces: [{ name: 'attack' }],
  persistentVolumeClaims: [
    {
      name: 'data',
      namespace: 'attack',
      accessModes: ['ReadWriteOnce'],
      size: '1Gi',
      volumeName: 'pv-attack-data',
      files: { seed: 7, files: 3, totalBytes: 64 * 1024, compressibility: 0.5, depth: 1 },
    },
  ],
};

/** A TCP listener standing in for an internal service (say PostgreSQL on 5432). */
async function startListener() {
  const peers: string[] = [];
  const server = net.createServer(socket => {
    peers.push(`${socket.remoteAddress}:${socket.remotePort}`);
    socket.destroy();
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    peers,
    stop: () => new Promise<void>(resolve => server.close(() => resolve())),
  };
}

/** The hosts a `Socket.prototype.connect` call names: `(port, host)`, `(options)` or `([options, cb])`. */
function targetsOf(args: unknown[]): string[] {
  const out: string[] = [];
  const visit = (value: unknown, depth: number) => {
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value) && depth < 2) value.forEach(v => visit(v, depth + 1));
    else if (value && typeof value === 'object' && depth < 2) {
      const { host, address } = value as { host?: unknown; address?: unknown };
      visit(host, depth + 1);
      visit(address, depth + 1);
    }
  };
  args.forEach(a => visit(a, 0));
  return out;
}

const scpTo = (host: string, port?: number) => ({
  type: 'scp',
  host,
  ...(port ? { port } : {}),
  username: 'probe',
  password: 'probe-password',
  hostKeySha256: `SHA256:${'A'.repeat(43)}`,
  remoteDir: 'probe',
});

describe('one-off destinations that cannot reach inside', () => {
  let sim: KubeSim;
  let listener: Awaited<ReturnType<typeof startListener>>;
  let guarded: { server: Server; knex: Knex; logs: CapturedLogs };
  let allowing: { server: Server; knex: Knex };
  let adHocAllowed = true;

  const post = (server: Server, destination: object | string) =>
    request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .send({ cluster: 'sim', volumes: [{ namespace: 'attack', name: 'data' }], destination });

  async function finished(server: Server, runId: string): Promise<BackupRun> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const res = await request(server).get(`/api/volume-manager/backups/${runId}`).set('Authorization', user);
      const body = res.body as BackupRun;
      if (body.items.every(i => !['queued', 'running'].includes(i.status))) return body;
      if (Date.now() > deadline) throw new Error(`run ${runId} still ${JSON.stringify(body.items)}`);
      await new Promise(r => setTimeout(r, 200));
    }
  }

  /** Refused with a 400 naming the allow-list, no run stored, and the listener saw nothing. */
  async function expectRefused(destination: object) {
    const res = await post(guarded.server, destination);
    expect(res.status).toBe(400);
    expect(res.body.error.name).toBe('InputError');
    expect(res.body.error.message).toContain('volumeManager.adHocDestinations.allowedHosts');
    expect(res.text).not.toContain('probe-password');
    await new Promise(r => setTimeout(r, 200));
    expect(listener.peers).toEqual([]);
    expect(await guarded.knex('backup_run').count({ n: '*' })).toEqual([{ n: 0 }]);
  }

  beforeAll(async () => {
    listener = await startListener();
    sim = await startKubeSim({ fixture, http: true });
    const cluster = { name: 'sim', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-admin' };
    const base = {
      allowAdHocDestinations: true,
      backupDir: `/tmp/nkvm-adhoc-attack-${process.pid}`,
      remoteTransfer: { attempts: 1, timeoutSeconds: 5 },
      helper: { podTimeoutSeconds: 20 },
      clusters: [cluster],
    };
    const capture = capturingRootLogger();
    const guardedKnex = await databases.init('SQLITE_3');
    guarded = {
      knex: guardedKnex,
      logs: capture.logs,
      server: (
        await startPluginBackend({
          knex: guardedKnex,
          config: { volumeManager: base },
          permission: name =>
            name === 'volume-manager.destination.adhoc' && !adHocAllowed ? AuthorizeResult.DENY : AuthorizeResult.ALLOW,
          extraFeatures: [capture.factory],
        })
      ).server,
    };
    const allowingKnex = await databases.init('SQLITE_3');
    allowing = {
      knex: allowingKnex,
      server: (
        await startPluginBackend({
          knex: allowingKnex,
          config: { volumeManager: { ...base, adHocDestinations: { allowedHosts: ['127.0.0.1'] } } },
        })
      ).server,
    };
  });

  afterEach(() => {
    adHocAllowed = true;
    jest.restoreAllMocks();
  });

  afterAll(async () => {
    await sim?.stop();
    await listener?.stop();
  });

  it('refuses 127.0.0.1:<an internal port> with a 400 before connecting', async () => {
    await expectRefused(scpTo('127.0.0.1', listener.port));
    await expectRefused(scpTo('[::ffff:127.0.0.1]', listener.port));
    expect(listener.peers).toEqual([]);
  });

  it('refuses the cloud metadata address 169.254.169.254 before any socket opens', async () => {
    const original = net.Socket.prototype.connect;
    const attempts: string[] = [];
    jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(function connect(this: net.Socket, ...args: unknown[]) {
      const text = targetsOf(args).join(' ');
      if (/169\.254\.169\.254|a9fe:a9fe/i.test(text)) {
        attempts.push(text);
        throw new Error('the test forbids connecting to the metadata address');
      }
      return (original as (...a: unknown[]) => net.Socket).apply(this, args);
    });
    await expectRefused(scpTo('169.254.169.254'));
    await expectRefused(scpTo('169.254.169.254', 80));
    await expectRefused({ ...scpTo('::ffff:a9fe:a9fe'), type: 'ftp' });
    expect(attempts).toEqual([]);
  });

  it('refuses names that resolve to loopback, and cluster-internal names', async () => {
    const realLookup = dns.lookup;
    // Only DNS is stubbed: this name resolves to loopback, as an attacker's DNS could make it.
    const lookup = jest.spyOn(dns, 'lookup').mockImplementation(((hostname: string, options: object) =>
      hostname === 'db.attacker-controlled.example'
        ? Promise.resolve([{ address: '127.0.0.1', family: 4 }])
        : realLookup(hostname, options as never)) as never);
    await expectRefused(scpTo('db.attacker-controlled.example', listener.port));
    expect(lookup).toHaveBeenCalledWith('db.attacker-controlled.example', { all: true, verbatim: true });
    await expectRefused(scpTo('localhost', listener.port));
    await expectRefused(scpTo('kubernetes.default.svc', 443));
    await expectRefused(scpTo('postgres.databases.svc.cluster.local', 5432));
  });

  it('answers 403 to a one-off destination from a user without volume-manager.destination.adhoc', async () => {
    adHocAllowed = false;
    const res = await post(guarded.server, scpTo('127.0.0.1', listener.port));
    expect(res.status).toBe(403);
    expect(res.body.error.name).toBe('NotAllowedError');
    expect(res.body.error.message).toContain('volume-manager.destination.adhoc');
    // The same user may still back up to a configured destination.
    const local = await post(guarded.server, 'local');
    expect(local.status).toBe(202);
    await finished(guarded.server, local.body.id);
    expect(listener.peers).toEqual([]);
  });

  it('control: with allowedHosts [127.0.0.1] the same request does reach the listener, and says nothing about it', async () => {
    const res = await post(allowing.server, scpTo('127.0.0.1', listener.port));
    expect(res.status).toBe(202);
    const done = await finished(allowing.server, res.body.id);
    expect(listener.peers.length).toBeGreaterThan(0);
    listener.peers.length = 0;
    const item = done.items[0];
    expect(item.status).toBe('failed');
    expect(item.error).toBe(adHocFailureMessage('scp'));
    const rows = await allowing.knex('backup_item').select();
    expect(JSON.stringify(rows)).not.toContain(String(listener.port));
    expect(JSON.stringify(rows)).not.toContain('probe');
  });
});
