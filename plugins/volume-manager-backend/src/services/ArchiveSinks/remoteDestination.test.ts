import { mkdirSync, mkdtempSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  isTransientError,
  normalizeHostKeySha256,
  normalizeRemoteDestination,
  normalizeRemoteDir,
  remoteUri,
  withRetry,
} from './remoteDestination';
import { sweepStaleStaging } from './RsyncArchiveSink';
import { ArchiveSinkError } from './types';

describe('normalizeRemoteDir', () => {
  const what = 'destination';
  it('normalizes and keeps relative and absolute directories', () => {
    expect(normalizeRemoteDir('./a//b/', { what })).toBe('a/b');
    expect(normalizeRemoteDir('.', { what })).toBe('.');
    expect(normalizeRemoteDir('/srv//x/', { what })).toBe('/srv/x');
  });
  it('refuses traversal, odd characters, and absolute paths outside the roots', () => {
    expect(() => normalizeRemoteDir('../../etc', { what })).toThrow(/must not contain '\.\.'/);
    expect(() => normalizeRemoteDir('a/../b', { what })).toThrow(/path traversal/);
    expect(() => normalizeRemoteDir('a;rm -rf', { what })).toThrow(/may only contain/);
    expect(() => normalizeRemoteDir("a'b", { what })).toThrow(/may only contain/);
    expect(() => normalizeRemoteDir('/etc', { what, roots: [] })).toThrow(/outside the allowed remote roots/);
    expect(() => normalizeRemoteDir('/srv/adhocx', { what, roots: ['/srv/adhoc'] })).toThrow(/outside/);
    expect(normalizeRemoteDir('/srv/adhoc/x', { what, roots: ['/srv/adhoc/'] })).toBe('/srv/adhoc/x');
    expect(normalizeRemoteDir('rel', { what, roots: [] })).toBe('rel');
  });
});

describe('normalizeHostKeySha256', () => {
  const fp = 'K1x9WGs0VfQnZ8Hy0Jr6Yw3pP5L2cD7eF4gH1iJ2kL3';
  it('accepts the OpenSSH form, with or without prefix and padding', () => {
    expect(normalizeHostKeySha256(`SHA256:${fp}`, 'x')).toBe(`SHA256:${fp}`);
    expect(normalizeHostKeySha256(`${fp}=`, 'x')).toBe(`SHA256:${fp}`);
  });
  it('refuses anything else', () => {
    expect(() => normalizeHostKeySha256('MD5:aa:bb', 'x')).toThrow(/hostKeySha256 must be/);
  });
});

describe('normalizeRemoteDestination', () => {
  const base = { type: 'scp' as const, host: 'h.example.com', username: 'u', remoteDir: 'b', password: 'p' };
  it('refuses hosts and usernames that could be options or shell', () => {
    expect(() => normalizeRemoteDestination({ ...base, host: '-oProxyCommand=x' }, { id: 'x', what: 'd' })).toThrow(/host/);
    expect(() => normalizeRemoteDestination({ ...base, username: '-l' }, { id: 'x', what: 'd' })).toThrow(/username/);
    expect(() => normalizeRemoteDestination({ ...base, password: undefined }, { id: 'x', what: 'd' })).toThrow(
      /needs a password or a privateKey/,
    );
  });
  it('never puts the secret in an error message', () => {
    const secret = 'sup3r-secret';
    let message = '';
    try {
      normalizeRemoteDestination({ ...base, password: secret, remoteDir: '../x' }, { id: 'x', what: 'd' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/path traversal/);
    expect(message).not.toContain(secret);
  });
});

describe('remoteUri', () => {
  const d = normalizeRemoteDestination(
    { type: 'ftp', host: 'ftp.example.com', username: 'u', password: 'pw', remoteDir: 'x' },
    { id: 'x', what: 'd' },
  );
  it('has no credentials and marks absolute FTP paths per RFC 1738', () => {
    expect(remoteUri('ftp', d, 'x/a.tar.gz')).toBe('ftp://ftp.example.com:21/x/a.tar.gz');
    expect(remoteUri('ftp', d, '/srv/a.tar.gz')).toBe('ftp://ftp.example.com:21/%2Fsrv/a.tar.gz');
    expect(remoteUri('sftp', { ...d, type: 'scp' }, '/srv/a.tar.gz', true)).toBe('sftp://u@ftp.example.com:22/srv/a.tar.gz');
  });
});

describe('retries', () => {
  it('classifies errors', () => {
    expect(isTransientError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('421 Too many'), { code: 421 }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('530 Login incorrect'), { code: 530 }))).toBe(false);
    expect(isTransientError(Object.assign(new Error('auth'), { level: 'client-authentication' }))).toBe(false);
    expect(isTransientError(new ArchiveSinkError('x', { transient: false }))).toBe(false);
  });
  it('retries transient errors with backoff and then gives up saying how often it tried', async () => {
    const delays: number[] = [];
    let calls = 0;
    const policy = { attempts: 3, initialDelayMs: 5, maxDelayMs: 8, timeoutMs: 1000 };
    await expect(
      withRetry('connecting', policy, async () => {
        calls++;
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      }, ({ delayMs }) => delays.push(delayMs)),
    ).rejects.toThrow('connecting failed after 3 attempts: connect ECONNREFUSED');
    expect(calls).toBe(3);
    expect(delays).toEqual([5, 8]);
    calls = 0;
    await expect(
      withRetry('login', policy, async () => {
        calls++;
        throw Object.assign(new Error('530'), { code: 530 });
      }),
    ).rejects.toThrow('login: 530');
    expect(calls).toBe(1);
  });
});

describe('sweepStaleStaging', () => {
  it('removes only staging directories untouched for longer than the limit', async () => {
    const backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-staging-'));
    const old = path.join(backupDir, '.staging', 'old');
    const fresh = path.join(backupDir, '.staging', 'fresh');
    for (const dir of [old, fresh]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'a.tar.gz'), 'x');
    }
    const past = new Date(Date.now() - 3_600_000);
    utimesSync(path.join(old, 'a.tar.gz'), past, past);
    utimesSync(old, past, past);
    expect(await sweepStaleStaging(backupDir, 600_000)).toEqual([old]);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
  });
});
