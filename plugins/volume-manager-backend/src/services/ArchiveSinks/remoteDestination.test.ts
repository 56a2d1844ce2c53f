import { mkdirSync, mkdtempSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  archivePathsUnder,
  isTransientError,
  normalizeHostKeySha256,
  normalizeRemoteDestination,
  normalizeRemoteDir,
  remoteUri,
  remoteUriPath,
  withRetry,
  type RemoteDestination,
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

describe('remoteUriPath and archivePathsUnder (reading back what a sink wrote)', () => {
  const layout = 'c1/ns/data/data-20261204T100000Z.tar.gz';
  const dest = (over: Partial<RemoteDestination>): RemoteDestination =>
    normalizeRemoteDestination(
      { type: 'ftp', host: 'ftp.example.com', username: 'u', password: 'p', remoteDir: 'backups', ...over } as never,
      { id: 'x', what: 'test' },
    );

  it.each([
    ['ftp', 'backups', false],
    ['ftp', '.', false],
    ['ftp', '/srv/backups', false],
    ['ftp', '/', false],
    ['ftps', 'backups', false],
    ['scp', '/home/u/backups', true],
    ['scp', '/', true],
    ['rsync', 'backups', true],
    ['rsync', '/srv/backups', true],
  ] as const)('%s with remoteDir %s: the URI remoteUri formed leads back to the same file', (type, remoteDir, user) => {
    for (const host of ['ftp.example.com', '192.0.2.7', '2001:db8::7']) {
      const d = dest({ type, remoteDir, host, port: 2121 } as never);
      const scheme = type === 'scp' ? 'sftp' : type;
      const file = [d.remoteDir, layout].filter(p => p !== '.').join('/').replace(/^\/\//, '/');
      const uri = remoteUri(scheme, d, file, user);
      let p = remoteUriPath(scheme, d, uri, user);
      if (!scheme.startsWith('ftp') && !d.remoteDir.startsWith('/')) p = p.slice(1);
      expect(archivePathsUnder(d.remoteDir, p)?.file).toBe(file);
    }
  });

  it('compares hosts as a URL parser does, and knows that ftp:// leaves out port 21', () => {
    const d = dest({ host: '2001:db8:0:0::7', port: undefined } as never);
    expect(remoteUriPath('ftp', d, `ftp://[2001:DB8::7]/backups/${layout}`, false)).toBe(`backups/${layout}`);
    expect(remoteUriPath('ftp', d, `ftp://[2001:db8::7]:21/%2Fsrv/${layout}`, false)).toBe(`/srv/${layout}`);
    const named = dest({ host: 'FTP.example.com' } as never);
    expect(remoteUriPath('ftp', named, `ftp://ftp.EXAMPLE.com/backups/${layout}`, false)).toBe(`backups/${layout}`);
  });

  it.each([
    ['another scheme', `sftp://ftp.example.com:21/backups/${'L'}`],
    ['another host', `ftp://evil.example.com/backups/L`],
    ['an address for the name', `ftp://192.0.2.7/backups/L`],
    ['another port', `ftp://ftp.example.com:2121/backups/L`],
    ['a user', `ftp://u@ftp.example.com/backups/L`],
    ['a password', `ftp://:pw@ftp.example.com/backups/L`],
    ['a query', `ftp://ftp.example.com/backups/L?x=1`],
    ['a fragment', `ftp://ftp.example.com/backups/L#x`],
    ['an encoded slash', `ftp://ftp.example.com/backups%2F..%2F..%2Fetc/L`],
    ['an encoded backslash', `ftp://ftp.example.com/backups/..%5C..%5Cetc/L`],
    ['an empty segment', `ftp://ftp.example.com/backups//L`],
    ['a NUL', `ftp://ftp.example.com/backups/%00/L`],
    ['malformed escapes', `ftp://ftp.example.com/backups/%E0%A4%A/L`],
    ['no host', `ftp:///backups/L`],
    ['not a URI', `backups/L`],
  ])('refuses %s', (_what, uri) => {
    const call = () => remoteUriPath('ftp', dest({}), uri.replace('L', layout), false);
    expect(call).toThrow(/refusing to read/);
    expect(call).toThrow(ArchiveSinkError);
  });

  it('leaves only archives directly in the layout below remoteDir', () => {
    expect(archivePathsUnder('backups', `backups/${layout}`)?.sidecar).toBe(`backups/${layout}.sha256`);
    for (const p of [
      `other/${layout}`,
      `backupsx/${layout}`,
      `backups/x/${layout}`,
      `backups/${layout}.sha256`,
      `backups/${layout}.partial`,
      'backups/c1/ns/data/other-20261204T100000Z.tar.gz',
      'backups/c1/ns/data/data-2026.tar.gz',
      'backups/c1/../data/data-20261204T100000Z.tar.gz',
      'backups/../ns/data/data-20261204T100000Z.tar.gz',
      'backups/.c1/ns/data/data-20261204T100000Z.tar.gz',
      layout,
    ]) {
      expect({ p, paths: archivePathsUnder('backups', p) }).toEqual({ p, paths: undefined });
    }
    expect(archivePathsUnder('.', layout)?.file).toBe(layout);
    expect(archivePathsUnder('/', `/${layout}`)?.file).toBe(`/${layout}`);
  });
});
