import { spawn } from 'node:child_process';
import * as http from 'node:http';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { WebSocket } from 'ws';
import { compareTrees, generateFileTree } from '../files';
import { clientExec, Harness, startHarness } from './__testUtils__/harness';

jest.setTimeout(60_000);

let tmp: string;
let pv: string;
let rw: string;
let h: Harness;
const hostHadData = existsSync('/data');
const uniqueMount = `/kube-sim-exec-test-${process.pid}`;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-sim-exec-'));
  pv = path.join(tmp, 'pv');
  rw = path.join(tmp, 'rw');
  await generateFileTree(
    {
      seed: 11,
      files: 30,
      totalBytes: '3Mi',
      compressibility: 0.4,
      depth: 3,
      oddities: true,
      entries: [{ path: 'secret/owner-only-70.txt', content: 'for uid 70 only\n', mode: 0o600, uid: 70, gid: 70 }],
    },
    pv,
  );
  await fs.mkdir(rw);
  await fs.writeFile(path.join(rw, 'secret-70.txt'), 'seventy\n');
  await fs.chown(path.join(rw, 'secret-70.txt'), 70, 70);
  await fs.chmod(path.join(rw, 'secret-70.txt'), 0o600);
  h = await startHarness();
});

beforeEach(() => {
  h.overrides = {
    mounts: [
      { hostPath: pv, mountPath: '/data', readOnly: true },
      { hostPath: rw, mountPath: '/scratch', readOnly: false },
    ],
  };
});

afterAll(async () => {
  await h?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

function untar(archive: Buffer, into: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('tar', ['-xzpf', '-', '--numeric-owner', '--same-owner', '-C', into], { stdio: ['pipe', 'inherit', 'pipe'] });
    let err = '';
    p.stderr.on('data', d => (err += d));
    p.on('close', code => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${err}`))));
    p.stdin.end(archive);
  });
}

describe('exec over WebSocket with client-node 1.4.0', () => {
  it('streams tar -czf - -C /data . and the extracted tree equals the PV byte for byte', async () => {
    const r = await clientExec(h.url, ['tar', '-czf', '-', '-C', '/data', '.']);
    expect(r.protocol).toBe('v5.channel.k8s.io');
    expect(r.stderr.toString()).toBe('');
    expect(r.status).toEqual({ metadata: {}, status: 'Success' });
    expect(r.stdout.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const out = path.join(tmp, 'extracted');
    await fs.mkdir(out);
    await untar(r.stdout, out);
    expect(await compareTrees(pv, out, { mtime: true })).toEqual([]);
  });

  it('propagates exit codes as NonZeroExitCode with the real message', async () => {
    const r = await clientExec(h.url, ['sh', '-c', 'exit 3']);
    expect(r.status).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });

  it('keeps stderr separate from stdout, binary-safe', async () => {
    const r = await clientExec(h.url, ['sh', '-c', 'printf "out\\r\\n\\000\\377"; echo err >&2; printf more']);
    expect(r.stdout).toEqual(Buffer.from('out\r\n\x00\xffmore', 'latin1'));
    expect(r.stderr.toString()).toBe('err\n');
    expect(r.status?.status).toBe('Success');
  });

  it('carries stdin to the process and ends it with the v5 CLOSE signal', async () => {
    const input = randomBytes(3 * 1024 * 1024 + 17);
    const r = await clientExec(h.url, ['sh', '-c', 'sleep 0.3; cat; echo done >&2'], { stdin: input });
    expect(r.stdout.equals(input)).toBe(true);
    expect(r.stderr.toString()).toBe('done\n');
    expect(r.status?.status).toBe('Success');
  });

  it('enforces read-only mounts, allows writes to writable ones and creates nothing on the host', async () => {
    const ro = await clientExec(h.url, ['sh', '-c', 'echo x > /data/new-file']);
    expect(ro.stderr.toString()).toMatch(/Read-only file system/);
    expect(ro.status?.details?.causes?.[0]).toEqual({ reason: 'ExitCode', message: '2' });
    expect(existsSync(path.join(pv, 'new-file'))).toBe(false);
    const touch = await clientExec(h.url, ['touch', '/data/links/target.txt']);
    expect(touch.stderr.toString()).toMatch(/Read-only file system/);
    expect(touch.status?.status).toBe('Failure');

    const w = await clientExec(h.url, ['sh', '-c', 'echo written > /scratch/out.txt && cat /scratch/out.txt']);
    expect(w.status?.status).toBe('Success');
    expect(w.stdout.toString()).toBe('written\n');
    expect(await fs.readFile(path.join(rw, 'out.txt'), 'utf8')).toBe('written\n');

    h.overrides.mounts = [{ hostPath: pv, mountPath: uniqueMount, readOnly: true }];
    const ls = await clientExec(h.url, ['ls', uniqueMount]);
    expect(ls.stdout.toString()).toContain('zero-bytes.bin');
    expect(existsSync(uniqueMount)).toBe(false);
    expect(existsSync('/data')).toBe(hostHadData);
  });

  it('runs as runAsUser/runAsGroup with fsGroup and supplementalGroups', async () => {
    h.overrides.securityContext = { runAsUser: 1001, runAsGroup: 2000, fsGroup: 3000, supplementalGroups: [4000] };
    const r = await clientExec(h.url, ['sh', '-c', 'id -u; id -g; id -G; grep CapEff /proc/self/status']);
    expect(r.stdout.toString()).toBe('1001\n2000\n2000 3000 4000\nCapEff:\t0000000000000000\n');
    const denied = await clientExec(h.url, ['cat', '/data/secret/owner-only-70.txt']);
    expect(denied.stderr.toString()).toMatch(/Permission denied/);
    expect(denied.status?.details?.causes?.[0]?.message).toBe('1');
  });

  it('gives uid 0 with drop ALL + add DAC_READ_SEARCH read access to everything but no write access', async () => {
    h.overrides.securityContext = { runAsUser: 0, capabilities: { drop: ['ALL'], add: ['DAC_READ_SEARCH'] } };
    const caps = await clientExec(h.url, ['grep', 'Cap[EPB]', '/proc/self/status']);
    expect(caps.stdout.toString()).toBe('CapPrm:\t0000000000000004\nCapEff:\t0000000000000004\nCapBnd:\t0000000000000004\n');
    const read = await clientExec(h.url, ['sh', '-c', 'cat /data/secret/owner-only-70.txt /data/secret/private-70/inside.txt /scratch/secret-70.txt']);
    expect(read.status?.status).toBe('Success');
    expect(read.stdout.toString()).toBe('for uid 70 only\ninside a 0700 dir of uid 70\nseventy\n');
    const write = await clientExec(h.url, ['sh', '-c', 'echo changed > /scratch/secret-70.txt']);
    expect(write.stderr.toString()).toMatch(/Permission denied/);
    expect(write.status?.status).toBe('Failure');
    expect(await fs.readFile(path.join(rw, 'secret-70.txt'), 'utf8')).toBe('seventy\n');

    // the same tar backup works under this restricted identity
    const tar = await clientExec(h.url, ['tar', '-czf', '-', '-C', '/data', '.']);
    expect(tar.status).toEqual({ metadata: {}, status: 'Success' });
    const out = path.join(tmp, 'extracted-restricted');
    await fs.mkdir(out);
    await untar(tar.stdout, out);
    expect(await compareTrees(pv, out)).toEqual([]);

    // whereas default container root (DAC_OVERRIDE) can write
    h.overrides.securityContext = undefined;
    const rootWrite = await clientExec(h.url, ['sh', '-c', 'echo changed > /scratch/secret-70.txt']);
    expect(rootWrite.status?.status).toBe('Success');
    await fs.writeFile(path.join(rw, 'secret-70.txt'), 'seventy\n');
  });

  it('kills the whole process tree through onProcess and reports Failure', async () => {
    const marker = `${1000 + (process.pid % 1000)}.25`;
    let kill: (() => void) | undefined;
    h.overrides.onProcess = k => {
      kill = k;
    };
    const started = Date.now();
    const pending = clientExec(h.url, ['sh', '-c', `sleep ${marker} & sleep ${marker}; echo not-reached`]);
    await new Promise(r => setTimeout(r, 700));
    expect(kill).toBeDefined();
    kill!();
    const r = await pending;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.stdout.toString()).toBe('');
    expect(r.status?.status).toBe('Failure');
    expect(r.status?.reason).toBe('NonZeroExitCode');
    expect(r.status?.details?.causes?.[0]).toEqual({ reason: 'ExitCode', message: '137' });
    await new Promise(res => setTimeout(res, 300));
    const survivors: string[] = [];
    for (const pid of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(`sleep\0${marker}`)) survivors.push(pid);
    }
    expect(survivors).toEqual([]);
  });

  it('kills the process when the client goes away (after KUBE_SIM_EXEC_ORPHAN_GRACE_MS)', async () => {
    process.env.KUBE_SIM_EXEC_ORPHAN_GRACE_MS = '200';
    const marker = `${2000 + (process.pid % 1000)}.5`;
    await clientExec(h.url, ['sleep', marker], {
      onSocket: ws => setTimeout(() => ws.terminate(), 500),
    });
    await new Promise(res => setTimeout(res, 500));
    let found = false;
    for (const pid of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(`sleep\0${marker}`)) found = true;
    }
    delete process.env.KUBE_SIM_EXEC_ORPHAN_GRACE_MS;
    expect(found).toBe(false);
  });

  it('reports a missing command like containerd/runc', async () => {
    const r = await clientExec(h.url, ['no-such-command', '-x']);
    expect(r.status?.status).toBe('Failure');
    expect(r.status?.reason).toBe('InternalError');
    expect(r.status?.message).toMatch(
      /^Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in \$PATH: unknown$/,
    );
    const abs = await clientExec(h.url, ['/data/nope']);
    expect(abs.status?.message).toContain('exec: "/data/nope": stat /data/nope: no such file or directory');
    const notExec = await clientExec(h.url, ['/data/old.txt']);
    expect(notExec.status?.message).toContain('exec: "/data/old.txt": permission denied');
    // executables on the mounted volume are found too
    const script = await clientExec(h.url, ['/data/bin/run.sh']);
    expect(script.stdout.toString()).toBe('hello\n');
  });

  it('mounts volumes inside /etc without touching the host /etc, and refuses reserved paths', async () => {
    h.overrides.mounts = [{ hostPath: rw, mountPath: '/etc/kube-sim-config', readOnly: true }];
    const r = await clientExec(h.url, ['sh', '-c', 'ls /etc/kube-sim-config; test -f /etc/passwd && echo passwd-ok; touch /etc/kube-sim-config/x']);
    expect(r.stdout.toString()).toContain('secret-70.txt\npasswd-ok\n');
    expect(r.stderr.toString()).toMatch(/Read-only file system/);
    expect(existsSync('/etc/kube-sim-config')).toBe(false);

    h.overrides.mounts = [{ hostPath: rw, mountPath: '/usr/local/data', readOnly: false }];
    const bad = await clientExec(h.url, ['true']);
    expect(bad.status?.reason).toBe('InternalError');
    expect(bad.status?.message).toMatch(/^Internal error occurred: error executing command in container: kube-sim: cannot mount a volume at "\/usr\/local\/data"/);
    h.overrides.mounts = [{ hostPath: path.join(tmp, 'does-not-exist'), mountPath: '/x', readOnly: false }];
    const missing = await clientExec(h.url, ['true']);
    expect(missing.status?.message).toMatch(/mount source .*does-not-exist for \/x does not exist/);
  });

  it('honours workingDir and env', async () => {
    h.overrides.workingDir = '/data/links';
    h.overrides.env = { GREETING: 'hi there' };
    const r = await clientExec(h.url, ['sh', '-c', 'pwd; cat sibling-link; echo "$GREETING"']);
    expect(r.stdout.toString()).toBe('/data/links\nsymlink target\nhi there\n');
    h.overrides.workingDir = '/data/nope';
    const bad = await clientExec(h.url, ['pwd']);
    expect(bad.status?.message).toMatch(/unable to start container process: chdir to cwd \("\/data\/nope"\) set in config.json failed: no such file or directory: unknown$/);
    h.overrides.workingDir = '/tmp';
    expect((await clientExec(h.url, ['pwd'])).stdout.toString()).toBe('/tmp\n');
    h.overrides.workingDir = '/usr/share';
    expect((await clientExec(h.url, ['pwd'])).stdout.toString()).toBe('/usr/share\n');
  });
});

/**
 * A raw ws client, to check framing details client-node hides. With `bytesPerSecond` it reads
 * the socket no faster than that, as a client whose destination is slow.
 */
function rawExec(
  url: string,
  query: string,
  protocols: string[],
  opts: { bytesPerSecond?: number } = {},
): Promise<{ protocol: string; frames: Buffer[]; closeCode: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/namespaces/ns/pods/p/exec?${query}`, protocols);
    const frames: Buffer[] = [];
    const rate = opts.bytesPerSecond;
    if (rate) {
      const started = Date.now();
      let received = 0;
      ws.on('message', (d: Buffer) => {
        received += d.length;
        const wait = started + (received / rate) * 1000 - Date.now();
        if (wait > 1 && !ws.isPaused) {
          ws.pause();
          setTimeout(() => ws.resume(), wait);
        }
      });
    }
    ws.on('message', (d: Buffer) => frames.push(Buffer.from(d)));
    ws.on('error', reject);
    ws.on('close', code => resolve({ protocol: ws.protocol, frames, closeCode: code }));
  });
}

describe('exec WebSocket protocol details', () => {
  it('negotiates the first offered protocol it supports and frames like the kubelet', async () => {
    const r = await rawExec(h.url, 'command=sh&command=-c&command=echo+hi%3B+exit+4&stdout=true&stderr=true', ['bogus', 'v4.channel.k8s.io', 'v5.channel.k8s.io']);
    expect(r.protocol).toBe('v4.channel.k8s.io');
    expect(r.closeCode).toBe(1000);
    expect(r.frames[0]).toEqual(Buffer.from([1])); // initial empty stdout frame
    expect(r.frames[1]).toEqual(Buffer.from('\x01hi\n'));
    const last = r.frames[r.frames.length - 1];
    expect(last[0]).toBe(3);
    expect(last.subarray(1).toString()).toBe(
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c echo hi; exit 4], exit code 4","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"4"}]}}',
    );
  });

  it.each(['v5.channel.k8s.io', 'v4.channel.k8s.io'])(
    'over %s, hands every stdout and stderr byte to the socket before the Status, which comes last',
    async protocol => {
      // 32 MiB of stdout around 1 MiB of stderr, to a client that reads 32 MiB/s: the command
      // blocks on its full pipes, and when it exits its last output is still in kube-sim's buffers.
      const script = 'yes 0123456789abcdef | head -c 16777216; yes err | head -c 1048576 >&2; yes tail | head -c 16777216; exit 7';
      const r = await rawExec(h.url, `command=sh&command=-c&command=${encodeURIComponent(script)}&stdout=true&stderr=true`, [protocol], {
        bytesPerSecond: 32 * 1024 * 1024,
      });
      const expected = (line: string, n: number) => line.repeat(Math.ceil(n / line.length)).slice(0, n);
      expect(r.closeCode).toBe(1000);
      const statusAt = r.frames.findIndex(f => f[0] === 3 && f.length > 1);
      expect(statusAt).toBe(r.frames.length - 1);
      expect(JSON.parse(r.frames[statusAt].subarray(1).toString()).details).toEqual({ causes: [{ reason: 'ExitCode', message: '7' }] });
      const channel = (c: number) => Buffer.concat(r.frames.filter(f => f[0] === c).map(f => f.subarray(1))).toString();
      const stdout = channel(1);
      expect(stdout.length).toBe(33554432);
      expect(stdout === expected('0123456789abcdef\n', 16777216) + expected('tail\n', 16777216)).toBe(true);
      const stderr = channel(2);
      expect(stderr.length).toBe(1048576);
      expect(stderr === expected('err\n', 1048576)).toBe(true);
    },
  );

  it('sends only the failure message on the error channel for channel.k8s.io', async () => {
    const ok = await rawExec(h.url, 'command=true&stderr=true', ['channel.k8s.io']);
    expect(ok.protocol).toBe('channel.k8s.io');
    expect(ok.frames).toEqual([Buffer.from([2])]);
    const bad = await rawExec(h.url, 'command=false', ['v2.channel.k8s.io']);
    expect(bad.frames.map(f => f.toString('latin1'))).toEqual([
      '\x03',
      '\x03command terminated with non-zero exit code: error executing command [false], exit code 1',
    ]);
  });

  it('refuses unsupported subprotocols and non-WebSocket upgrades with a Status', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`${h.url.replace('http', 'ws')}/exec?command=true`, ['base64.channel.k8s.io']);
      ws.on('unexpected-response', (_req, resp) => {
        let body = '';
        resp.on('data', d => (body += d));
        resp.on('end', () => resolve({ status: resp.statusCode ?? 0, body }));
      });
      ws.on('error', reject);
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    expect(JSON.parse(res.body).message).toMatch(/requested protocol\(s\) are not supported: base64\.channel\.k8s\.io/);

    const other = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${h.url}/exec?command=true`, { headers: { Connection: 'Upgrade', Upgrade: 'h2c' } });
      req.on('response', resp => {
        let body = '';
        resp.on('data', d => (body += d));
        resp.on('end', () => resolve({ status: resp.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(other.status).toBe(400);
    expect(JSON.parse(other.body).message).toMatch(/^unsupported upgrade protocol "h2c"/);
  });

  it('sends stderr on the stdout channel when tty is set (no PTY is emulated)', async () => {
    const r = await rawExec(h.url, 'command=sh&command=-c&command=echo+a%3B+sleep+0.1%3B+echo+b+%3E%262&stdout=true&tty=true', ['v5.channel.k8s.io']);
    const out = Buffer.concat(r.frames.filter(f => f[0] === 1).map(f => f.subarray(1))).toString();
    expect(out).toBe('a\nb\n');
    expect(r.frames.filter(f => f[0] === 2)).toEqual([]);
  });

  it('ends stdin when a v4 client closes the socket, letting the command finish', async () => {
    await fs.rm(path.join(rw, 'v4.txt'), { force: true });
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${h.url.replace('http', 'ws')}/exec?command=sh&command=-c&command=sleep+0.3%3B+cat+%3E+%2Fscratch%2Fv4.txt&stdin=true`, ['v4.channel.k8s.io']);
      ws.on('error', reject);
      ws.once('message', () => {
        ws.send(Buffer.from('\x00hello over v4', 'latin1'));
        ws.close();
      });
      ws.on('close', () => resolve());
    });
    for (let i = 0; i < 50 && !existsSync(path.join(rw, 'v4.txt')); i++) await new Promise(r => setTimeout(r, 100));
    await new Promise(r => setTimeout(r, 200));
    expect(await fs.readFile(path.join(rw, 'v4.txt'), 'utf8')).toBe('hello over v4');
  });

  it('handles stdin that the command never reads', async () => {
    const pt = new PassThrough();
    const pending = clientExec(h.url, ['sh', '-c', 'head -c 5; exit 0'], { stdin: pt });
    pt.write(Buffer.alloc(1024 * 1024, 'a'));
    pt.end();
    const r = await pending;
    expect(r.stdout.toString()).toBe('aaaaa');
    expect(r.status?.status).toBe('Success');
  });
});
