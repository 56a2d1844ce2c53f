/*
 * Remote destinations end to end: kube-sim PVCs backed up through POST /backups to real vsftpd
 * (FTP, explicit and implicit FTPS) and OpenSSH (SCP over SFTP, RSYNC over ssh) servers on
 * loopback, read back through each protocol and compared byte for byte and by sha256. Then the
 * faults: wrong host keys, wrong passwords (whose strings must appear nowhere in the logs, the
 * database or any API response), path traversal, and a server dying mid-upload.
 */
import { execFile } from 'node:child_process';
import dns from 'node:dns';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { startKubeSim, type Fixture, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import type { BackupRun } from '@nkvm/backstage-plugin-volume-manager-common';
import { Client as FtpClient } from 'basic-ftp';
import { Client as SshClient, type SFTPWrapper } from 'ssh2';
import type { Knex } from 'knex';
import request from 'supertest';
import { readVolumeManagerConfig } from '../config/readVolumeManagerConfig';
import { capturingRootLogger, type CapturedLogs } from '../__testUtils__/captureLogger';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { freePort, startRemoteServers, type RemoteServers } from '../__testUtils__/remoteServers';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { adHocFailureMessage } from '../services/ArchiveSinks/AdHocArchiveSink';
import { FtpArchiveSink } from '../services/ArchiveSinks/FtpArchiveSink';
import { normalizeRemoteDestination, type RemoteDestinationInput } from '../services/ArchiveSinks/remoteDestination';
import { ScpArchiveSink } from '../services/ArchiveSinks/ScpArchiveSink';

jest.setTimeout(240_000);
const run = promisify(execFile);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');
type Server = Parameters<typeof request>[0];

const MiB = 1024 * 1024;
const WRONG_FTP_PASSWORD = `wrong-ftp-${randomBytes(6).toString('hex')}`;
const WRONG_SSH_PASSWORD = `wrong-ssh-${randomBytes(6).toString('hex')}`;

function fixture(bigBytes: number): Fixture {
  return {
    name: 'remote',
    nodes: [{ name: 'node-a' }],
    namespaces: [{ name: 'remote' }],
    persistentVolumeClaims: [
      {
        name: 'data',
        namespace: 'remote',
        accessModes: ['ReadWriteOnce'],
        size: '1Gi',
        volumeName: 'pv-remote-data',
        files: { seed: 31, files: 40, totalBytes: 6 * MiB, compressibility: 0.5, depth: 2 },
      },
      {
        name: 'big',
        namespace: 'remote',
        accessModes: ['ReadWriteOnce'],
        size: '10Gi',
        volumeName: 'pv-remote-big',
        files: { seed: 32, files: 4, totalBytes: bigBytes, compressibility: 0, depth: 1 },
      },
    ],
  };
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(e => e.isFile())
    .map(e => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function ftpDownload(servers: RemoteServers, remotePath: string, secure: boolean): Promise<Buffer> {
  const client = new FtpClient(10_000);
  try {
    await client.access({
      host: '127.0.0.1',
      port: secure ? servers.ftpsPort : servers.ftpPort,
      user: servers.user,
      password: servers.password,
      secure,
      secureOptions: { ca: servers.ftpsCa },
    });
    const chunks: Buffer[] = [];
    await client.downloadTo(
      new Writable({
        write(chunk, _e, cb) {
          chunks.push(chunk);
          cb();
        },
      }),
      remotePath,
    );
    return Buffer.concat(chunks);
  } finally {
    client.close();
  }
}

function sftpDownload(servers: RemoteServers, remotePath: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const conn = new SshClient();
    conn.on('error', reject);
    conn.on('ready', () =>
      conn.sftp((err, sftp: SFTPWrapper) => {
        if (err) return reject(err);
        sftp.readFile(remotePath, (e, data) => {
          conn.end();
          if (e) reject(e);
          else resolve(data);
        });
        return undefined;
      }),
    );
    conn.connect({
      host: '127.0.0.1',
      port: servers.sshPort,
      username: servers.user,
      privateKey: servers.clientPrivateKey,
      hostVerifier: (key: Buffer) =>
        `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` === servers.hostKeySha256,
    });
  });
}

describe('remote destinations against real servers', () => {
  let servers: RemoteServers;
  let sim: KubeSim;
  let server: Server;
  let knex: Knex;
  let logs: CapturedLogs;
  let backupDir: string;
  /** Every API response body this suite received. */
  const responses: string[] = [];

  async function api(method: 'get' | 'post', url: string, body?: object) {
    const req = request(server)[method](`/api/volume-manager${url}`).set('Authorization', user);
    const res = body ? await req.send(body) : await req;
    responses.push(res.text);
    return res;
  }

  async function finished(runId: string, timeoutMs = 150_000): Promise<BackupRun> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await api('get', `/backups/${runId}`);
      expect(res.status).toBe(200);
      const body = res.body as BackupRun;
      if (body.items.every(i => !['queued', 'running'].includes(i.status))) return body;
      if (Date.now() > deadline) throw new Error(`run ${runId} still ${JSON.stringify(body.items)}`);
      await new Promise(r => setTimeout(r, 200));
    }
  }

  async function backup(destination: string | object, pvc = 'data'): Promise<BackupRun> {
    const res = await api('post', '/backups', { cluster: 'sim', volumes: [{ namespace: 'remote', name: pvc }], destination });
    expect(res.status).toBe(202);
    return finished(res.body.id);
  }

  /** Where an archive URI of these servers points on disk (home-relative or absolute). */
  function localPathOf(uri: string): string {
    const u = new URL(uri);
    const p = decodeURIComponent(u.pathname);
    if (u.protocol === 'sftp:') return p;
    return path.join(servers.home, p);
  }

  const base = () => ({ host: '127.0.0.1', username: servers.user });

  beforeAll(async () => {
    servers = await startRemoteServers();
    sim = await startKubeSim({ fixture: fixture(256 * MiB), http: true });
    backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-remote-local-'));
    knex = await databases.init('SQLITE_3');
    const capture = capturingRootLogger();
    logs = capture.logs;
    ({ server } = await startPluginBackend({
      knex,
      extraFeatures: [capture.factory],
      config: {
        volumeManager: {
          backupDir,
          allowAdHocDestinations: true,
          // The test servers listen on loopback, which one-off destinations may not reach by
          // default (adHocDestinations.kubeSim.test.ts performs that attack): allow it here.
          adHocDestinations: { allowedHosts: ['127.0.0.1'] },
          remoteTransfer: { attempts: 3, initialDelayMs: 300, timeoutSeconds: 10 },
          helper: { podTimeoutSeconds: 20 },
          clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-admin' }],
          destinations: [
            { id: 't-ftp', type: 'ftp', ...base(), port: servers.ftpPort, password: servers.password, remoteDir: 'backups/ftp' },
            {
              id: 't-ftps', type: 'ftps', ...base(), port: servers.ftpsPort, password: servers.password,
              remoteDir: './backups//ftps/', tls: { ca: servers.ftpsCa },
            },
            {
              id: 't-ftps-implicit', type: 'ftps', ...base(), port: servers.ftpsImplicitPort, password: servers.password,
              remoteDir: 'backups/ftps-implicit', tls: { ca: servers.ftpsCa, implicit: true },
            },
            {
              id: 't-scp', type: 'scp', ...base(), port: servers.sshPort, privateKey: servers.clientPrivateKey,
              hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/scp',
            },
            {
              id: 't-rsync', type: 'rsync', ...base(), port: servers.sshPort, password: servers.password,
              hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/rsync',
            },
            {
              id: 't-rsync-key', type: 'rsync', ...base(), port: servers.sshPort, privateKey: servers.clientPrivateKey,
              hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/rsync-key', keepLocalCopy: true,
            },
            {
              id: 't-scp-wrong-key', type: 'scp', ...base(), port: servers.sshPort, password: servers.password,
              hostKeySha256: `SHA256:${'A'.repeat(43)}`, remoteDir: 'backups/wrong-key',
            },
            { id: 't-ftp-wrong-pw', type: 'ftp', ...base(), port: servers.ftpPort, password: WRONG_FTP_PASSWORD, remoteDir: 'backups/wrong-pw' },
            {
              id: 't-scp-fault', type: 'scp', ...base(), port: servers.sshPort, password: servers.password,
              hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/scp-fault',
            },
            { id: 't-ftp-fault', type: 'ftp', ...base(), port: servers.ftpPort, password: servers.password, remoteDir: 'backups/fault' },
          ],
        },
      },
    }));
  });

  afterAll(async () => {
    await sim?.stop();
    await servers?.stop();
    if (backupDir) rmSync(backupDir, { recursive: true, force: true });
  });

  it.each([
    ['t-ftp', 'ftp'],
    ['t-ftps', 'ftps'],
    ['t-ftps-implicit', 'ftps'],
    ['t-scp', 'sftp'],
    ['t-rsync', 'rsync'],
  ])('backs up a PVC to %s and it reads back byte for byte', async (id, scheme) => {
    const done = await backup(id);
    const item = done.items[0];
    expect({ status: item.status, error: item.error }).toEqual({ status: 'succeeded', error: null });
    expect(item.archiveUri).toMatch(new RegExp(`^${scheme}://`));
    expect(item.archiveUri).not.toContain(servers.password);
    const url = new URL(item.archiveUri!);
    expect(url.password).toBe('');
    const ports: Record<string, number> = {
      't-ftp': servers.ftpPort,
      't-ftps': servers.ftpsPort,
      't-ftps-implicit': servers.ftpsImplicitPort,
      't-scp': servers.sshPort,
      't-rsync': servers.sshPort,
    };
    expect(url.port).toBe(String(ports[id]));

    const onDisk = localPathOf(item.archiveUri!);
    const dirName = id === 't-ftps-implicit' ? 'ftps-implicit' : id.slice(2);
    expect(onDisk).toMatch(new RegExp(`/backups/${dirName}/sim/remote/data/data-\\d{8}T\\d{6}Z\\.tar\\.gz$`));
    // Read back through the protocol itself.
    const homeRelative = path.relative(servers.home, onDisk);
    const readBack = scheme.startsWith('ftp')
      ? await ftpDownload(servers, homeRelative, scheme === 'ftps' && id === 't-ftps')
      : await sftpDownload(servers, homeRelative);
    expect(readBack.length).toBe(item.bytes);
    expect(sha256(readBack)).toBe(item.sha256);
    expect(readFileSync(onDisk).equals(readBack)).toBe(true);
    expect(readFileSync(`${onDisk}.sha256`, 'utf8')).toBe(`${item.sha256}  ${path.basename(onDisk)}\n`);
    const { stdout } = await run('sha256sum', ['-c', `${path.basename(onDisk)}.sha256`], { cwd: path.dirname(onDisk) });
    expect(stdout).toContain(': OK');
    expect(filesUnder(path.dirname(onDisk)).filter(f => f.includes('.partial'))).toEqual([]);

    const out = mkdtempSync(path.join(os.tmpdir(), 'nkvm-remote-extract-'));
    await run('tar', ['-xzpf', onDisk, '--numeric-owner', '--same-owner', '-C', out]);
    try {
      expect(await compareTrees(sim.pvDir('pv-remote-data'), out)).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('rsync with a key keeps the staged copy in the local layout when keepLocalCopy is set, and removes staging', async () => {
    const done = await backup('t-rsync-key');
    const item = done.items[0];
    expect({ status: item.status, error: item.error }).toEqual({ status: 'succeeded', error: null });
    expect(item.archiveUri).toMatch(/^rsync:\/\//);
    const remote = readFileSync(localPathOf(item.archiveUri!));
    expect(sha256(remote)).toBe(item.sha256);
    const local = path.join(backupDir, 'sim', 'remote', 'data', path.basename(localPathOf(item.archiveUri!)));
    expect(sha256(readFileSync(local))).toBe(item.sha256);
    expect(readFileSync(`${local}.sha256`, 'utf8')).toBe(`${item.sha256}  ${path.basename(local)}\n`);
    expect(filesUnder(path.join(backupDir, '.staging'))).toEqual([]);
  });

  it('rsync without keepLocalCopy leaves no staged copy', async () => {
    const before = filesUnder(backupDir).length;
    const done = await backup('t-rsync');
    expect(done.items[0].status).toBe('succeeded');
    expect(filesUnder(path.join(backupDir, '.staging'))).toEqual([]);
    expect(filesUnder(backupDir).length).toBe(before);
  });

  it('backs up to one-off (ad-hoc) SCP and FTPS destinations, recording neither host, port, user nor path', async () => {
    const scp = await backup({
      type: 'scp', ...base(), port: servers.sshPort, password: servers.password,
      hostKeySha256: servers.hostKeySha256, remoteDir: 'adhoc/scp',
    });
    expect({ status: scp.items[0].status, error: scp.items[0].error }).toEqual({ status: 'succeeded', error: null });
    expect(scp.destination).toBe('adhoc:scp');
    // The URI names the type and the file, nothing about where it went.
    const scpName = /^adhoc:\/\/scp\/(data-\d{8}T\d{6}Z\.tar\.gz)$/.exec(scp.items[0].archiveUri!)?.[1];
    expect(scpName).toBeDefined();
    const file = path.join(servers.home, 'adhoc/scp/sim/remote/data', scpName!);
    expect(sha256(await sftpDownload(servers, path.relative(servers.home, file)))).toBe(scp.items[0].sha256);

    const ftps = await backup({
      type: 'ftps', ...base(), port: servers.ftpsPort, password: servers.password,
      remoteDir: 'adhoc/ftps', tls: { ca: servers.ftpsCa },
    });
    expect({ status: ftps.items[0].status, error: ftps.items[0].error }).toEqual({ status: 'succeeded', error: null });
    const ftpsName = /^adhoc:\/\/ftps\/(data-\d{8}T\d{6}Z\.tar\.gz)$/.exec(ftps.items[0].archiveUri!)?.[1];
    expect(ftpsName).toBeDefined();
    const ftpsFile = path.join(servers.home, 'adhoc/ftps/sim/remote/data', ftpsName!);
    expect(sha256(await ftpDownload(servers, path.relative(servers.home, ftpsFile), true))).toBe(ftps.items[0].sha256);

    const rows = await knex('backup_run').whereIn('id', [scp.id, ftps.id]).select();
    expect(rows.map(r => r.destination).sort()).toEqual(['adhoc:ftps', 'adhoc:scp']);
    // Read back what the store and the API hold: no host, port, user or remote directory.
    const items = await knex('backup_item').whereIn('run_id', [scp.id, ftps.id]).select();
    expect(items.map(i => i.archive_uri).sort()).toEqual([`adhoc://ftps/${ftpsName}`, `adhoc://scp/${scpName}`]);
    const history = await api('get', '/backups?limit=500');
    const runs = [await api('get', `/backups/${scp.id}`), await api('get', `/backups/${ftps.id}`)];
    for (const text of [JSON.stringify(rows), JSON.stringify(items), ...runs.map(r => r.text)]) {
      for (const where of ['127.0.0.1', `:${servers.sshPort}`, `:${servers.ftpsPort}`, servers.user, 'adhoc/scp', 'adhoc/ftps']) {
        expect(text).not.toContain(where);
      }
    }
    const listed = history.body.items.filter((i: { runId: string }) => [scp.id, ftps.id].includes(i.runId));
    expect(listed.map((i: { archiveUri: string }) => i.archiveUri).sort()).toEqual([`adhoc://ftps/${ftpsName}`, `adhoc://scp/${scpName}`]);
  });

  it('refuses a server whose host key does not match the pinned fingerprint, and an unpinned one', async () => {
    const wrong = await backup('t-scp-wrong-key');
    expect(wrong.items[0].status).toBe('failed');
    expect(wrong.items[0].error).toContain(`the server's host key ${servers.hostKeySha256} does not match the pinned hostKeySha256`);
    expect(existsSync(path.join(servers.home, 'backups/wrong-key'))).toBe(false);

    // A one-off destination says only that it failed; the backend log has the fingerprint.
    const unpinned = await backup({
      type: 'rsync', ...base(), port: servers.sshPort, password: servers.password, remoteDir: 'adhoc/unpinned',
    });
    expect(unpinned.items[0].status).toBe('failed');
    expect(unpinned.items[0].error).toBe(adHocFailureMessage('rsync'));
    expect(
      logs.lines.some(
        l =>
          l.startsWith('warn One-off RSYNC destination failed') &&
          l.includes(`no hostKeySha256 is pinned for this destination; refusing the server's unverified host key ${servers.hostKeySha256}`),
      ),
    ).toBe(true);
    expect(existsSync(path.join(servers.home, 'adhoc/unpinned'))).toBe(false);
  });

  it('fails clearly on a wrong password, and the password appears nowhere in logs, database or responses', async () => {
    const ftp = await backup('t-ftp-wrong-pw');
    expect(ftp.items[0].status).toBe('failed');
    expect(ftp.items[0].error).toMatch(new RegExp(`FTP 127\\.0\\.0\\.1:${servers.ftpPort}: login as '${servers.user}' was refused \\(530`));

    const scp = await backup({
      type: 'scp', ...base(), port: servers.sshPort, password: WRONG_SSH_PASSWORD,
      hostKeySha256: servers.hostKeySha256, remoteDir: 'adhoc/wrong-pw',
    });
    expect(scp.items[0].status).toBe('failed');
    expect(scp.items[0].error).toBe(adHocFailureMessage('scp'));
    expect(
      logs.lines.some(
        l =>
          l.startsWith('warn One-off SCP destination failed') &&
          l.includes(`SCP ${servers.user}@127.0.0.1:${servers.sshPort}: authentication failed (password)`),
      ),
    ).toBe(true);

    // A closed port and a wrong host key read exactly like the wrong password: no oracle.
    const closedPort = await freePort();
    const closed = await backup({
      type: 'scp', ...base(), port: closedPort, password: WRONG_SSH_PASSWORD,
      hostKeySha256: servers.hostKeySha256, remoteDir: 'adhoc/closed',
    });
    const wrongKey = await backup({
      type: 'scp', ...base(), port: servers.sshPort, password: WRONG_SSH_PASSWORD,
      hostKeySha256: `SHA256:${'B'.repeat(43)}`, remoteDir: 'adhoc/wrong-key',
    });
    expect([closed.items[0].status, wrongKey.items[0].status]).toEqual(['failed', 'failed']);
    expect(closed.items[0].error).toBe(scp.items[0].error);
    expect(wrongKey.items[0].error).toBe(scp.items[0].error);
    expect(logs.text()).toMatch(new RegExp(`warn One-off SCP destination failed: .*127\\.0\\.0\\.1:${closedPort}.*ECONNREFUSED`));
    for (const failed of [scp, closed, wrongKey]) {
      expect(failed.items[0].archiveUri).toBeNull();
      const stored = JSON.stringify(await knex('backup_item').where({ run_id: failed.id }).select());
      for (const where of [String(closedPort), String(servers.sshPort), servers.user, '127.0.0.1', 'adhoc/']) {
        expect(stored).not.toContain(where);
      }
    }

    // Everything the backend could have leaked into: every table, every log line, every response.
    const dump: string[] = [];
    for (const table of ['backup_run', 'backup_item']) dump.push(JSON.stringify(await knex(table).select()));
    const dbText = dump.join('\n');
    const history = await api('get', '/backups?limit=500');
    expect(history.status).toBe(200);
    await api('get', '/destinations');
    await api('get', `/backups/${scp.id}`);
    expect(logs.lines.length).toBeGreaterThan(10);
    expect(logs.text()).toContain('backup-run-create'); // audit events go through the same logger
    for (const secret of [WRONG_FTP_PASSWORD, WRONG_SSH_PASSWORD, servers.password, servers.clientPrivateKey.split('\n')[1]]) {
      expect(logs.text()).not.toContain(secret);
      expect(dbText).not.toContain(secret);
      for (const body of responses) expect(body).not.toContain(secret);
    }
    expect(dbText).toContain('adhoc:scp');
  });

  it('GET /destinations lists every destination without secrets', async () => {
    const res = await api('get', '/destinations');
    expect(res.status).toBe(200);
    expect(res.body.allowAdHoc).toBe(true);
    const ftp = res.body.destinations.find((d: { id: string }) => d.id === 't-ftp');
    expect(ftp).toEqual({ id: 't-ftp', type: 'ftp', host: '127.0.0.1', port: servers.ftpPort, username: servers.user, remoteDir: 'backups/ftp' });
    expect(res.body.destinations.find((d: { id: string }) => d.id === 't-ftps').remoteDir).toBe('backups/ftps');
    for (const d of res.body.destinations) {
      expect(Object.keys(d).every(k => ['id', 'type', 'host', 'port', 'username', 'remoteDir'].includes(k))).toBe(true);
    }
    expect(res.body.destinations.map((d: { id: string }) => d.id)).toContain('local');
    for (const secret of [servers.password, WRONG_FTP_PASSWORD, 'PRIVATE KEY', servers.clientPrivateKey.split('\n')[1]]) {
      expect(res.text).not.toContain(secret);
    }
  });

  it.each([
    ['../../etc', /must not contain '\.\.' \(path traversal\)/],
    ['backups/../../etc', /must not contain '\.\.' \(path traversal\)/],
    ['/etc', /outside the allowed remote roots/],
    ['back ups', /may only contain/],
  ])('answers 400 for an ad-hoc remoteDir of %j', async (remoteDir, message) => {
    const res = await api('post', '/backups', {
      cluster: 'sim',
      volumes: [{ namespace: 'remote', name: 'data' }],
      destination: { type: 'ftp', ...base(), port: servers.ftpPort, password: servers.password, remoteDir },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.name).toBe('InputError');
    expect(res.body.error.message).toMatch(message);
    expect(res.text).not.toContain(servers.password);
  });

  it('refuses a configured remoteDir with traversal at start-up', () => {
    const read = (remoteDir: string) =>
      readVolumeManagerConfig(
        new ConfigReader({
          volumeManager: {
            destinations: [{ id: 'x', type: 'ftp', host: 'h', username: 'u', password: 'p', remoteDir }],
          },
        }),
        {},
      );
    expect(() => read('../../etc')).toThrow(/must not contain '\.\.'/);
    expect(read('/srv/backups/').destinations[0].remoteDir).toBe('/srv/backups');
  });

  it('one-off sinks connect to the checked address, while FTPS checks the certificate against the typed name', async () => {
    // No name may be resolved here: a sink that looked its host up instead of using the checked
    // address would fail on this stub (and never query a resolver off this machine).
    const lookups: string[] = [];
    jest.spyOn(dns, 'lookup').mockImplementation(((hostname: string, options: unknown, callback?: unknown) => {
      lookups.push(hostname);
      const cb = (typeof options === 'function' ? options : callback) as (e: Error) => void;
      process.nextTick(() => cb(Object.assign(new Error(`the test forbids resolving ${hostname}`), { code: 'ENOTFOUND' })));
    }) as never);
    try {
      const retry = { attempts: 1, initialDelayMs: 10, maxDelayMs: 10, timeoutMs: 10_000 };
      const logger = mockServices.logger.mock();
      const target = { cluster: 'sim', namespace: 'remote', pvc: 'checked', startedAt: new Date() };
      const spec = (input: RemoteDestinationInput, address: string) => ({
        ...normalizeRemoteDestination(input, { id: `adhoc:${input.type}`, what: 'destination' }),
        address,
      });
      const scp = new ScpArchiveSink(
        spec(
          {
            type: 'scp', host: 'sftp.nkvm.invalid', port: servers.sshPort, username: servers.user,
            privateKey: servers.clientPrivateKey, hostKeySha256: servers.hostKeySha256, remoteDir: 'checked/scp',
          },
          '127.0.0.1',
        ),
        { retry, logger },
      );
      const payload = Buffer.from('sent to the checked address\n');
      const upload = async (sink: ScpArchiveSink | FtpArchiveSink, dir: string) => {
        const open = await sink.open(target);
        open.stream.write(payload);
        await open.commit({ sha256: sha256(payload), bytes: payload.length });
        const [file] = filesUnder(path.join(servers.home, dir)).filter(f => f.endsWith('.tar.gz'));
        expect(readFileSync(file).equals(payload)).toBe(true);
      };
      await upload(scp, 'checked/scp');

      const ftps = (host: string) =>
        new FtpArchiveSink(
          spec(
            {
              type: 'ftps', host, port: servers.ftpsPort, username: servers.user, password: servers.password,
              remoteDir: 'checked/ftps', tls: { ca: servers.ftpsCa },
            },
            '127.0.0.1',
          ),
          { retry, logger },
        );
      // The certificate names localhost (and 127.0.0.1): the typed name is what it is checked against.
      await upload(ftps('localhost'), 'checked/ftps');
      await expect(ftps('ftp.nkvm.invalid').open(target)).rejects.toThrow(
        /Hostname\/IP does not match certificate's altnames: Host: ftp\.nkvm\.invalid/,
      );
      expect(lookups).toEqual([]);
    } finally {
      jest.restoreAllMocks();
    }
  });

  async function killMidUpload(destination: string, dir: string, kill: () => void): Promise<BackupRun> {
    const res = await api('post', '/backups', { cluster: 'sim', volumes: [{ namespace: 'remote', name: 'big' }], destination });
    expect(res.status).toBe(202);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await api('get', `/backups/${res.body.id}`);
      if ((r.body.items[0].progress?.bytes ?? 0) > 16 * MiB) break;
      if (r.body.items[0].status !== 'queued' && r.body.items[0].status !== 'running') {
        throw new Error(`the upload ended before it could be interrupted: ${JSON.stringify(r.body.items[0])}`);
      }
      if (Date.now() > deadline) throw new Error('the upload never got going');
      await new Promise(r2 => setTimeout(r2, 100));
    }
    const partial = filesUnder(path.join(servers.home, dir)).find(f => f.endsWith('.tar.gz.partial'));
    expect(partial).toBeDefined(); // it was streaming to the temporary name
    kill();
    return finished(res.body.id);
  }

  // The last two stop the servers for good.
  it('retries when the FTP server dies mid-upload, then fails clearly with nothing under the final name', async () => {
    const done = await killMidUpload('t-ftp-fault', 'backups/fault', servers.killFtp);
    const item = done.items[0];
    expect(item.status).toBe('failed');
    expect(item.error).toMatch(new RegExp(`^FTP 127\\.0\\.0\\.1:${servers.ftpPort}: connecting failed after 3 attempts: .*ECONNREFUSED`));
    expect(logs.text()).toMatch(/Upload to 't-ftp-fault' failed \(attempt 1 of 3\); streaming again/);
    expect(logs.text()).toMatch(/FTP 127\.0\.0\.1:\d+: connecting failed \(attempt 1 of 3\), retrying in \d+ ms/);
    const left = filesUnder(path.join(servers.home, 'backups/fault'));
    expect(left.filter(f => f.endsWith('.tar.gz') || f.endsWith('.sha256'))).toEqual([]);
  });

  it('retries when sshd dies mid-upload (SCP), then fails clearly with nothing under the final name', async () => {
    const done = await killMidUpload('t-scp-fault', 'backups/scp-fault', servers.killSsh);
    const item = done.items[0];
    expect(item.status).toBe('failed');
    expect(item.error).toMatch(
      new RegExp(`^SCP ${servers.user}@127\\.0\\.0\\.1:${servers.sshPort}: connecting failed after 3 attempts: .*ECONNREFUSED`),
    );
    expect(logs.text()).toMatch(/Upload to 't-scp-fault' failed \(attempt 1 of 3\); streaming again/);
    const left = filesUnder(path.join(servers.home, 'backups/scp-fault'));
    expect(left.filter(f => f.endsWith('.tar.gz') || f.endsWith('.sha256'))).toEqual([]);
  });
});
