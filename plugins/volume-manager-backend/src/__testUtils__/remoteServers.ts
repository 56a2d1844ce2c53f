/*
 * Real FTP, FTPS (vsftpd), SSH/SFTP (OpenSSH sshd) servers on loopback high ports, with a
 * throwaway system user, for the remote-destination tests and benchmarks. Needs root and the
 * Debian packages vsftpd, openssh-server and rsync (`.ci/run` installs them). Everything lives
 * in a fresh state directory; stop() kills the daemons (by their process groups) and deletes
 * the user.
 *
 * Layout: the user's home is the FTP root (vsftpd chroots local users there) and the SSH home,
 * so a relative remoteDir `backups` is `<home>/backups` for every protocol.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, openSync, readFileSync, writeFileSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RemoteServers {
  user: string;
  password: string;
  stateDir: string;
  /** The user's home: FTP root and SSH home. */
  home: string;
  ftpPort: number;
  /** Explicit FTPS (AUTH TLS). */
  ftpsPort: number;
  /** Implicit FTPS (TLS from the first byte). */
  ftpsImplicitPort: number;
  sshPort: number;
  /** PEM of the FTPS server's self-signed certificate (trust it with `tls.ca`). */
  ftpsCa: string;
  /** `SHA256:...` of sshd's host key, as `ssh-keygen -lf` prints it. */
  hostKeySha256: string;
  /** An OpenSSH private key authorized for the user. */
  clientPrivateKey: string;
  /** Kills the FTP daemon and its sessions at once (a server dying mid-upload). */
  killFtp(): void;
  /** Kills sshd and its sessions. */
  killSsh(): void;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** The OpenSSH fingerprint of a `.pub` line. */
export function fingerprintOfPub(pubLine: string): string {
  const blob = Buffer.from(pubLine.trim().split(/\s+/)[1], 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function requireTools() {
  if (process.getuid?.() !== 0) {
    throw new Error('The remote-destination tests need root (they add a system user and run vsftpd and sshd)');
  }
  const missing = ['/usr/sbin/vsftpd', '/usr/sbin/sshd', '/usr/bin/rsync', '/usr/bin/ssh'].filter(p => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(
      `Missing ${missing.join(', ')}: install the Debian packages vsftpd openssh-server rsync (.ci/run does)`,
    );
  }
}

function daemon(command: string, args: string[], logFile: string, stdinIsLog = false): ChildProcess {
  // vsftpd reports configuration errors on fd 0: give it a read-write log file there.
  const fd = openSync(logFile, 'a+');
  const child = spawn(command, args, { detached: true, stdio: [stdinIsLog ? fd : 'ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  return child;
}

/** Pids of every descendant of `pid` (daemons fork per session, some into new sessions). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** Kills a daemon we started, its process group and all its session processes, at once. */
function killGroup(child: ChildProcess | undefined) {
  if (!child?.pid) return;
  const pids = [child.pid, ...descendants(child.pid)];
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Starts vsftpd (FTP and explicit FTPS) and sshd for a new throwaway user. */
export async function startRemoteServers(): Promise<RemoteServers> {
  requireTools();
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-remote-'));
  chmodSync(stateDir, 0o711); // the user must reach its home below; keys stay 0600
  const user = `nkvm${randomBytes(3).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const home = path.join(stateDir, 'home');
  await run('useradd', ['-M', '-d', home, '-s', '/bin/bash', user]);
  await run('install', ['-d', '-o', user, '-g', user, '-m', '755', home]);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('chpasswd', [], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', d => (err += d));
    child.on('close', code => (code === 0 ? resolve() : reject(new Error(`chpasswd: ${err}`))));
    child.stdin!.end(`${user}:${password}\n`); // never in argv
  });

  const [ftpPort, ftpsPort, ftpsImplicitPort, sshPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const pasvBase = 40000 + Math.floor(Math.random() * 1300) * 15;

  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', path.join(stateDir, 'tls.key'), '-out', path.join(stateDir, 'tls.crt'),
  ]);
  await run('mkdir', ['-p', '/var/run/vsftpd/empty', '/run/sshd']);
  const common = [
    'listen=YES', 'listen_ipv6=NO', 'background=NO', 'listen_address=127.0.0.1', 'anonymous_enable=NO',
    'local_enable=YES', 'write_enable=YES', 'local_umask=022', 'pasv_enable=YES', 'pasv_address=127.0.0.1',
    'connect_from_port_20=NO', 'chroot_local_user=YES', 'allow_writeable_chroot=YES',
    'secure_chroot_dir=/var/run/vsftpd/empty', 'pam_service_name=vsftpd', 'seccomp_sandbox=NO',
    `userlist_enable=NO`,
  ];
  writeFileSync(
    path.join(stateDir, 'ftp.conf'),
    [...common, `listen_port=${ftpPort}`, `pasv_min_port=${pasvBase}`, `pasv_max_port=${pasvBase + 4}`,
      `vsftpd_log_file=${stateDir}/ftp.xfer.log`, ''].join('\n'),
  );
  const tls = (name: string, port: number, pasv: number, extra: string[]) =>
    writeFileSync(
      path.join(stateDir, `${name}.conf`),
      [...common, `listen_port=${port}`, `pasv_min_port=${pasv}`, `pasv_max_port=${pasv + 4}`,
        `vsftpd_log_file=${stateDir}/${name}.xfer.log`, 'ssl_enable=YES',
        `rsa_cert_file=${stateDir}/tls.crt`, `rsa_private_key_file=${stateDir}/tls.key`,
        'force_local_logins_ssl=YES', 'force_local_data_ssl=YES', 'require_ssl_reuse=NO',
        'ssl_sslv2=NO', 'ssl_sslv3=NO', 'ssl_tlsv1=NO', ...extra, ''].join('\n'),
    );
  tls('ftps', ftpsPort, pasvBase + 5, []);
  tls('ftpsi', ftpsImplicitPort, pasvBase + 10, ['implicit_ssl=YES']);

  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(stateDir, 'host_ed25519')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(stateDir, 'client_ed25519'), '-C', user]);
  await run('install', ['-d', '-o', user, '-g', user, '-m', '700', path.join(home, '.ssh')]);
  await run('install', ['-o', user, '-g', user, '-m', '600', path.join(stateDir, 'client_ed25519.pub'),
    path.join(home, '.ssh', 'authorized_keys')]);
  writeFileSync(
    path.join(stateDir, 'sshd_config'),
    [`Port ${sshPort}`, 'ListenAddress 127.0.0.1', `HostKey ${stateDir}/host_ed25519`, `PidFile ${stateDir}/sshd.pid`,
      'PasswordAuthentication yes', 'KbdInteractiveAuthentication no', 'PubkeyAuthentication yes', 'UsePAM yes',
      'PermitRootLogin no', `AllowUsers ${user}`, 'StrictModes no', 'Subsystem sftp internal-sftp',
      'MaxStartups 50', ''].join('\n'),
  );
  await run('/usr/sbin/sshd', ['-t', '-f', path.join(stateDir, 'sshd_config')]);

  let ftp: ChildProcess | undefined;
  let ftps: ChildProcess | undefined;
  let ftpsi: ChildProcess | undefined;
  let sshd: ChildProcess | undefined;
  const stopAll = () => {
    killGroup(ftp);
    killGroup(ftps);
    killGroup(ftpsi);
    killGroup(sshd);
  };
  try {
    ftp = daemon('/usr/sbin/vsftpd', [path.join(stateDir, 'ftp.conf')], path.join(stateDir, 'ftp.log'), true);
    ftps = daemon('/usr/sbin/vsftpd', [path.join(stateDir, 'ftps.conf')], path.join(stateDir, 'ftps.log'), true);
    ftpsi = daemon('/usr/sbin/vsftpd', [path.join(stateDir, 'ftpsi.conf')], path.join(stateDir, 'ftpsi.log'), true);
    sshd = daemon('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(stateDir, 'sshd_config')], path.join(stateDir, 'sshd.log'));
    for (const port of [ftpPort, ftpsPort, ftpsImplicitPort, sshPort]) await waitForPort(port);
  } catch (error) {
    stopAll();
    const logs = ['ftp.log', 'ftps.log', 'ftpsi.log', 'sshd.log']
      .map(f => `${f}: ${existsSync(path.join(stateDir, f)) ? readFileSync(path.join(stateDir, f), 'utf8').slice(-500) : ''}`)
      .join('\n');
    throw new Error(`${(error as Error).message}\n${logs}`);
  }

  return {
    user,
    password,
    stateDir,
    home,
    ftpPort,
    ftpsPort,
    ftpsImplicitPort,
    sshPort,
    ftpsCa: readFileSync(path.join(stateDir, 'tls.crt'), 'utf8'),
    hostKeySha256: fingerprintOfPub(readFileSync(path.join(stateDir, 'host_ed25519.pub'), 'utf8')),
    clientPrivateKey: readFileSync(path.join(stateDir, 'client_ed25519'), 'utf8'),
    killFtp: () => killGroup(ftp),
    killSsh: () => killGroup(sshd),
    async stop() {
      stopAll();
      await new Promise(r => setTimeout(r, 200));
      await run('userdel', [user]).catch(() => {});
      await run('rm', ['-rf', stateDir]).catch(() => {});
    },
  };
}
