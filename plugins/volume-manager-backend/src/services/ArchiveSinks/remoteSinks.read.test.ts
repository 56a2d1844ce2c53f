/*
 * Reading archives back (restore) through the remote sinks, against real vsftpd (FTP, explicit
 * and implicit FTPS) and OpenSSH (SCP over SFTP, RSYNC over ssh) servers on loopback: each
 * archive is written with open()/commit() and read back with read(), then the faults: a missing
 * archive or sidecar, a cancel mid-read (no connection, staged copy or rsync left), a slow
 * reader of a 64 MiB archive (memory stays bounded, the transfer survives the pause), and URIs
 * that point anywhere but this destination's archives.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { mockServices } from '@backstage/backend-test-utils';
import { startRemoteServers, type RemoteServers } from '../../__testUtils__/remoteServers';
import { FtpArchiveSink } from './FtpArchiveSink';
import { normalizeRemoteDestination, type RemoteDestinationInput } from './remoteDestination';
import { RsyncArchiveSink } from './RsyncArchiveSink';
import { ScpArchiveSink } from './ScpArchiveSink';
import type { ArchiveSink, ArchiveTarget } from './types';

jest.setTimeout(180_000);

const MiB = 1024 * 1024;
const target: ArchiveTarget = { cluster: 'c1', namespace: 'ns', pvc: 'data', startedAt: new Date('2026-12-04T10:00:00Z') };
const FILE = 'data-20261204T100000Z.tar.gz';
const LAYOUT = `c1/ns/data/${FILE}`;

let servers: RemoteServers;
let backupDir: string;

beforeAll(async () => {
  servers = await startRemoteServers();
  backupDir = mkdtempSync(path.join(os.tmpdir(), 'sink-read-'));
  // A valid-looking archive outside every remoteDir, for the traversal attacks.
  mkdirSync(path.join(servers.home, 'other', 'c1', 'ns', 'data'), { recursive: true });
  writeFileSync(path.join(servers.home, 'other', LAYOUT), 'not yours');
  writeFileSync(path.join(servers.home, 'other', `${LAYOUT}.sha256`), `${'a'.repeat(64)}  ${FILE}\n`);
  writeFileSync(path.join(servers.home, FILE), 'not yours');
  writeFileSync(path.join(servers.home, `${FILE}.sha256`), `${'a'.repeat(64)}  ${FILE}\n`);
});

afterAll(async () => {
  await servers?.stop();
});

interface Case {
  name: string;
  scheme: string;
  /** The destination, given the servers. */
  input: () => RemoteDestinationInput;
  /** Where remoteDir is on this machine. */
  localDir: () => string;
  /** Absolute remoteDir paths are below the FTP chroot for FTP. */
  ftpChroot?: boolean;
}

const cases: Case[] = [
  {
    name: 'FTP',
    scheme: 'ftp',
    input: () => ({ type: 'ftp', host: '127.0.0.1', port: servers.ftpPort, username: servers.user, password: servers.password, remoteDir: 'backups/ftp' }),
    localDir: () => path.join(servers.home, 'backups/ftp'),
  },
  {
    name: 'FTP, absolute remoteDir',
    scheme: 'ftp',
    input: () => ({ type: 'ftp', host: '127.0.0.1', port: servers.ftpPort, username: servers.user, password: servers.password, remoteDir: '/backups/ftp-abs' }),
    localDir: () => path.join(servers.home, 'backups/ftp-abs'),
  },
  {
    name: 'FTPS (explicit)',
    scheme: 'ftps',
    input: () => ({
      type: 'ftps', host: '127.0.0.1', port: servers.ftpsPort, username: servers.user, password: servers.password,
      remoteDir: 'backups/ftps', tls: { ca: servers.ftpsCa },
    }),
    localDir: () => path.join(servers.home, 'backups/ftps'),
  },
  {
    name: 'FTPS (implicit)',
    scheme: 'ftps',
    input: () => ({
      type: 'ftps', host: '127.0.0.1', port: servers.ftpsImplicitPort, username: servers.user, password: servers.password,
      remoteDir: 'backups/ftpsi', tls: { ca: servers.ftpsCa, implicit: true },
    }),
    localDir: () => path.join(servers.home, 'backups/ftpsi'),
  },
  {
    name: 'SCP (password)',
    scheme: 'sftp',
    input: () => ({
      type: 'scp', host: '127.0.0.1', port: servers.sshPort, username: servers.user, password: servers.password,
      hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/scp',
    }),
    localDir: () => path.join(servers.home, 'backups/scp'),
  },
  {
    name: 'SCP (key, absolute remoteDir)',
    scheme: 'sftp',
    input: () => ({
      type: 'scp', host: '127.0.0.1', port: servers.sshPort, username: servers.user, privateKey: servers.clientPrivateKey,
      hostKeySha256: servers.hostKeySha256, remoteDir: `${servers.home}/backups/scp-abs`,
    }),
    localDir: () => path.join(servers.home, 'backups/scp-abs'),
  },
  {
    name: 'RSYNC (key)',
    scheme: 'rsync',
    input: () => ({
      type: 'rsync', host: '127.0.0.1', port: servers.sshPort, username: servers.user, privateKey: servers.clientPrivateKey,
      hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/rsync',
    }),
    localDir: () => path.join(servers.home, 'backups/rsync'),
  },
  {
    name: 'RSYNC (password, absolute remoteDir)',
    scheme: 'rsync',
    input: () => ({
      type: 'rsync', host: '127.0.0.1', port: servers.sshPort, username: servers.user, password: servers.password,
      hostKeySha256: servers.hostKeySha256, remoteDir: `${servers.home}/backups/rsync-abs`,
    }),
    localDir: () => path.join(servers.home, 'backups/rsync-abs'),
  },
];

function sinkOf(c: Case, overrides: { timeoutMs?: number } = {}): ArchiveSink {
  const d = normalizeRemoteDestination(c.input(), { id: `t-${c.scheme}`, what: 'test destination' });
  const retry = { attempts: 2, initialDelayMs: 50, maxDelayMs: 100, timeoutMs: overrides.timeoutMs ?? 10_000 };
  const logger = mockServices.logger.mock();
  if (d.type === 'ftp' || d.type === 'ftps') return new FtpArchiveSink(d, { retry, logger });
  if (d.type === 'scp') return new ScpArchiveSink(d, { retry, logger });
  return new RsyncArchiveSink(d, { retry, logger, backupDir });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function write(sink: ArchiveSink, content: Buffer): Promise<string> {
  const upload = await sink.open(target);
  for (let i = 0; i < content.length; i += 4 * MiB) {
    const chunk = content.subarray(i, i + 4 * MiB);
    if (!upload.stream.write(chunk)) await new Promise(r => upload.stream.once('drain', r));
  }
  upload.stream.end();
  const { uri } = await upload.commit({ sha256: sha256(content), bytes: content.length });
  return uri;
}

async function drain(stream: Readable) {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Sockets this (Jest worker) process holds open: FTP control and data, SSH. */
function openSockets(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`still not: ${what}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

/** rsync and ssh processes below this one (children and their children). */
function rsyncChildren(): number {
  const parent = new Map<number, number>();
  const names = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      names.set(Number(entry), stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // exited meanwhile
    }
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid); p && p > 1; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  return [...names].filter(([pid, name]) => /^(rsync|ssh)$/.test(name) && below(pid)).length;
}

const staged = () => (existsSync(path.join(backupDir, '.staging')) ? readdirSync(path.join(backupDir, '.staging')) : []);

describe.each(cases)('$name read()', c => {
  const content = randomBytes(5 * MiB + 123);
  let uri: string;

  beforeAll(async () => {
    uri = await write(sinkOf(c), content);
  });

  it('reads back what commit() wrote: same bytes and sha256, the sidecar value', async () => {
    expect(uri).toBe(uri.replace(/:\/\/[^@/]*:[^@/]*@/, '://')); // never a password in it
    expect(uri.startsWith(`${c.scheme}://`)).toBe(true);
    const sockets = openSockets();
    const download = await sinkOf(c).read!(uri);
    expect(download.sidecarSha256).toBe(sha256(content));
    expect(download.bytes).toBe(content.length);
    expect(await drain(download.stream)).toEqual({ bytes: content.length, sha256: sha256(content) });
    await eventually(() => openSockets() <= sockets, 'the connection is released after the end');
    await eventually(() => staged().length === 0, 'the staged copy is removed after the end');
  });

  it('names a missing sidecar, then a missing archive, as final errors', async () => {
    const file = path.join(c.localDir(), LAYOUT);
    renameSync(`${file}.sha256`, `${file}.sha256.away`);
    try {
      const error = await sinkOf(c).read!(uri).catch(e => e);
      expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: false });
      expect(error.message).toContain(`${LAYOUT}.sha256`);
      expect(error.message).toMatch(/does not exist/);
    } finally {
      renameSync(`${file}.sha256.away`, `${file}.sha256`);
    }
    renameSync(file, `${file}.away`);
    try {
      const error = await sinkOf(c).read!(uri).catch(e => e);
      expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: false });
      expect(error.message).toContain(LAYOUT);
      expect(error.message).not.toContain('.sha256');
      expect(error.message).toMatch(/does not exist/);
    } finally {
      renameSync(`${file}.away`, file);
    }
    expect(staged()).toEqual([]);
  });

  it('refuses a sidecar for another archive', async () => {
    const file = path.join(c.localDir(), LAYOUT);
    const original = readFileSync(`${file}.sha256`);
    writeFileSync(`${file}.sha256`, `${sha256(content)}  other.tar.gz\n`);
    try {
      await expect(sinkOf(c).read!(uri)).rejects.toThrow("the sidecar is for 'other.tar.gz'");
    } finally {
      writeFileSync(`${file}.sha256`, original);
    }
  });

  it('refuses URIs that are not archives of this destination, without reading them', async () => {
    const u = new URL(uri);
    const prefix = `${u.protocol}//${u.username ? `${u.username}@` : ''}`;
    const hostPort = `${u.hostname}:${u.port || 21}`;
    const dirPath = u.pathname.slice(0, -LAYOUT.length - 1); // `/backups/ftp`, `/%2Fbackups/ftp-abs`, `/<home>/backups/scp`...
    const up = '%2E%2E/'.repeat(dirPath.split('/').length + 2);
    const attacks = [
      uri.replace('127.0.0.1', 'localhost'), // another host (even the same machine)
      uri.replace(`:${u.port || 21}/`, ':1/'), // another port
      `${prefix}${hostPort}${dirPath}/c1/ns/data/${up}other/${LAYOUT}`, // `..` out of remoteDir
      `${prefix}${hostPort}${dirPath}/c1/ns/data/..%2F..%2F..%2F..%2F..%2Fother/${LAYOUT}`, // encoded `/`
      `${prefix}${hostPort}/other/${LAYOUT}`, // a layout outside remoteDir (relative)
      `${prefix}${hostPort}/${c.scheme.startsWith('ftp') ? '%2F' : `${servers.home.slice(1)}/`}other/${LAYOUT}`, // absolute
      `${prefix}${hostPort}/${FILE}`, // the login directory itself
      `${prefix}${hostPort}${dirPath}/c1/ns/data/${FILE}.sha256`, // not an archive
      `${prefix}${hostPort}${dirPath}/c1/ns/other/${FILE}`, // not the layout (pvc and name differ)
      uri.replace(/^[a-z]+:/, c.scheme === 'ftp' ? 'sftp:' : 'ftp:'), // another scheme
      `file://${path.join(c.localDir(), LAYOUT)}`,
      'not a uri',
    ];
    if (u.username) attacks.push(uri.replace(`${u.username}@`, 'root@'), uri.replace(`${u.username}@`, ''));
    else attacks.push(uri.replace('://', `://${servers.user}@`));
    const sink = sinkOf(c);
    for (const attack of attacks) {
      const error = await sink.read!(attack).catch(e => e);
      expect({ attack, error: error?.message }).toEqual({ attack, error: expect.stringMatching(/refusing to read/) });
      expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: false });
    }
    expect(staged()).toEqual([]);
  });
});

describe.each(cases.filter(c => ['FTP', 'FTPS (explicit)', 'SCP (password)', 'RSYNC (key)'].includes(c.name)))('$name read() of 64 MiB', c => {
  const content = randomBytes(64 * MiB);
  let uri: string;

  beforeAll(async () => {
    uri = await write(sinkOf(c), content);
  });

  it('keeps memory bounded while the reader pauses, and survives a pause longer than the timeout', async () => {
    const timeoutMs = 1500;
    const memory = () => {
      const m = process.memoryUsage();
      return m.rss + m.arrayBuffers;
    };
    const before = memory();
    const download = await sinkOf(c, { timeoutMs }).read!(uri);
    const hash = createHash('sha256');
    let bytes = 0;
    const first = await new Promise<Buffer>(resolve => download.stream.once('data', resolve));
    download.stream.pause();
    hash.update(first);
    bytes += first.length;
    await new Promise(r => setTimeout(r, 2 * timeoutMs));
    const grown = memory() - before;
    // Without backpressure all 64 MiB would sit in memory by now (loopback moves it in < 1 s).
    expect(grown).toBeLessThan(16 * MiB);
    expect(download.stream.readableLength).toBeLessThanOrEqual(4 * MiB);
    download.stream.resume();
    for await (const chunk of download.stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    // The pause (twice the transfer timeout) did not fail the transfer, nor lose a byte.
    expect(bytes).toBe(content.length);
    expect(hash.digest('hex')).toBe(sha256(content));
    expect(download.sidecarSha256).toBe(sha256(content));
    await eventually(() => staged().length === 0, 'the staged copy is removed after the end');
  });

  it('destroys the stream and releases the connection (and staged copy) when cancelled mid-read', async () => {
    const sockets = openSockets();
    const controller = new AbortController();
    const download = await sinkOf(c).read!(uri, { signal: controller.signal });
    await new Promise(resolve => download.stream.once('data', resolve));
    download.stream.pause();
    const failed = new Promise<Error>(resolve => download.stream.once('error', resolve));
    controller.abort();
    expect(await failed).toMatchObject({ name: 'ArchiveSinkError', message: expect.stringMatching(/cancelled/) });
    expect(download.stream.destroyed).toBe(true);
    await eventually(() => openSockets() <= sockets, 'no connection is left open');
    await eventually(() => staged().length === 0, 'the staged copy is removed');
  });

  it('releases everything when the reader destroys the stream', async () => {
    const sockets = openSockets();
    const download = await sinkOf(c).read!(uri);
    await new Promise(resolve => download.stream.once('data', resolve));
    download.stream.destroy();
    await eventually(() => openSockets() <= sockets, 'no connection is left open');
    await eventually(() => staged().length === 0, 'the staged copy is removed');
    expect(openSockets()).toBeLessThanOrEqual(sockets);
  });

  it('stops at once when cancelled at any point before or after the stream starts', async () => {
    for (const delayMs of [0, 10, 30, 60, 100, 150, 250, 400]) {
      const controller = new AbortController();
      const started = Date.now();
      const reading = sinkOf(c).read!(uri, { signal: controller.signal });
      setTimeout(() => controller.abort(), delayMs);
      // Already streaming when the signal came (the reader has not started): the stream fails.
      const result = await reading.then(
        d => new Promise(resolve => d.stream.once('error', resolve)),
        e => e,
      );
      expect({ delayMs, result }).toMatchObject({
        delayMs,
        result: { name: 'ArchiveSinkError', message: expect.stringMatching(/cancelled/) },
      });
      expect(Date.now() - started).toBeLessThan(delayMs + 3000);
      await eventually(() => rsyncChildren() === 0, 'no rsync or ssh process is left');
      await eventually(() => staged().length === 0, 'the staged copy is removed');
    }
  });
});

describe('RSYNC read() of an archive that is a symlink on the server', () => {
  it('fails with a final error naming it (rsync copies regular files only), leaving nothing staged', async () => {
    const c = cases.find(x => x.name === 'RSYNC (key)')!;
    const uri = await write(sinkOf(c), randomBytes(1000));
    const file = path.join(c.localDir(), LAYOUT);
    renameSync(file, `${file}.real`);
    symlinkSync(`${file}.real`, file);
    try {
      const error = await sinkOf(c).read!(uri).catch(e => e);
      expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: false });
      expect(error.message).toContain(`${LAYOUT} did not arrive`);
    } finally {
      rmSync(file);
      renameSync(`${file}.real`, file);
    }
    await eventually(() => staged().length === 0, 'the staged copy is removed');
  });
});

// Last: these kill the servers.
describe('when the server dies mid-read', () => {
  const content = randomBytes(32 * MiB);

  it.each([
    ['FTP', () => servers.killFtp()],
    ['SCP (password)', () => servers.killSsh()],
  ])('%s: the stream fails with a transient error and never ends as if complete', async (name, kill) => {
    const c = cases.find(x => x.name === name)!;
    const uri = await write(sinkOf(c), content);
    const download = await sinkOf(c).read!(uri);
    let received = 0;
    let ended = false;
    download.stream.on('end', () => (ended = true));
    const failed = new Promise<Error>(resolve => download.stream.once('error', resolve));
    const first = await new Promise<Buffer>(resolve => download.stream.once('data', resolve));
    received += first.length;
    download.stream.pause();
    kill();
    await new Promise(r => setTimeout(r, 300));
    download.stream.on('data', (chunk: Buffer) => (received += chunk.length));
    download.stream.resume();
    const error = await failed;
    expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: true });
    expect(error.message).toContain(LAYOUT);
    expect(ended).toBe(false);
    expect(received).toBeLessThan(content.length);
  });
});
