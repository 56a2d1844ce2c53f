/*
 * An in-process SSH/SFTP server (ssh2's Server) over a temporary directory, that can stop
 * answering chosen requests: an SFTP operation on a path, or an exec'd command. It stands in for
 * a destination that hangs mid-protocol, which a real sshd cannot be made to do on cue.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Server, utils, type Connection } from 'ssh2';
import { fingerprintOf } from '../services/ArchiveSinks/remoteDestination';

const { OPEN_MODE, STATUS_CODE } = utils.sftp;

export interface StallingSshServer {
  port: number;
  hostKeySha256: string;
  username: string;
  password: string;
  /** The login directory. */
  root: string;
  /** Requests that were left unanswered, e.g. `exec sha256sum`, `STAT backups`. */
  stalled: string[];
  close(): Promise<void>;
}

/**
 * `stall(request)` decides per request (`'STAT <path>'`, `'READ <path>@<offset>'`,
 * `'exec <command>'`) whether to hang.
 */
export async function startStallingSshServer(options: {
  stall: (request: string) => boolean;
}): Promise<StallingSshServer> {
  const keys = utils.generateKeyPairSync('ed25519');
  const publicKey = utils.parseKey(keys.public);
  if (publicKey instanceof Error) throw publicKey;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nkvm-stall-ssh-'));
  const local = (p: string) => path.join(root, path.posix.normalize(`/${p}`));
  const stalled: string[] = [];
  const connections = new Set<Connection>();
  const username = 'backup';
  const password = 'stall-test-password';

  const sockets = new Set<net.Socket>();
  const server = new Server({ hostKeys: [keys.private] }, client => {
    connections.add(client);
    client.on('close', () => connections.delete(client));
    client.on('error', () => {});
    client.on('authentication', ctx => {
      if (ctx.method === 'password' && ctx.username === username && ctx.password === password) ctx.accept();
      else ctx.reject(['password']);
    });
    client.on('ready', () => {
      client.on('session', acceptSession => {
        const session = acceptSession();
        session.on('exec', (accept, _reject, info) => {
          const channel = accept();
          if (options.stall(`exec ${info.command}`)) {
            stalled.push(`exec ${info.command}`);
            return; // never answers
          }
          const m = /^sha256sum -- '(.*)'$/.exec(info.command);
          if (m) {
            const sum = createHash('sha256').update(fs.readFileSync(local(m[1]))).digest('hex');
            channel.write(`${sum}  ${m[1]}\n`);
            channel.exit(0);
          } else {
            channel.stderr.write('unsupported\n');
            channel.exit(127);
          }
          channel.end();
        });
        session.on('sftp', acceptSftp => {
          const sftp = acceptSftp();
          const handles = new Map<number, number>();
          let next = 0;
          const hang = (request: string) => {
            if (!options.stall(request)) return false;
            stalled.push(request);
            return true;
          };
          const attrsOf = (st: fs.Stats) => ({
            mode: st.mode,
            uid: st.uid,
            gid: st.gid,
            size: st.size,
            atime: Math.floor(st.atimeMs / 1000),
            mtime: Math.floor(st.mtimeMs / 1000),
          });
          const stat = (reqid: number, p: string, op: string) => {
            if (hang(`${op} ${p}`)) return;
            try {
              sftp.attrs(reqid, attrsOf(fs.statSync(local(p))));
            } catch {
              sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE);
            }
          };
          sftp.on('STAT', (reqid, p) => stat(reqid, p, 'STAT'));
          sftp.on('LSTAT', (reqid, p) => stat(reqid, p, 'LSTAT'));
          sftp.on('REALPATH', (reqid, p) => {
            if (hang(`REALPATH ${p}`)) return;
            const abs = path.posix.normalize(`/${p}`);
            sftp.name(reqid, [{ filename: abs, longname: abs, attrs: {} as never }]);
          });
          sftp.on('MKDIR', (reqid, p) => {
            if (hang(`MKDIR ${p}`)) return;
            try {
              fs.mkdirSync(local(p));
              sftp.status(reqid, STATUS_CODE.OK);
            } catch {
              sftp.status(reqid, STATUS_CODE.FAILURE);
            }
          });
          const handlePaths = new Map<number, string>();
          sftp.on('OPEN', (reqid, p, flags) => {
            if (hang(`OPEN ${p}`)) return;
            const id = next++;
            try {
              handles.set(id, fs.openSync(local(p), flags & OPEN_MODE.WRITE ? 'w' : 'r'));
            } catch {
              sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE);
              return;
            }
            handlePaths.set(id, p);
            const handle = Buffer.alloc(4);
            handle.writeUInt32BE(id);
            sftp.handle(reqid, handle);
          });
          sftp.on('READ', (reqid, handle, offset, length) => {
            const id = handle.readUInt32BE(0);
            if (hang(`READ ${handlePaths.get(id)}@${offset}`)) return;
            const buffer = Buffer.alloc(length);
            const n = fs.readSync(handles.get(id)!, buffer, 0, length, offset);
            if (n === 0) sftp.status(reqid, STATUS_CODE.EOF);
            else sftp.data(reqid, buffer.subarray(0, n));
          });
          sftp.on('WRITE', (reqid, handle, offset, data) => {
            fs.writeSync(handles.get(handle.readUInt32BE(0))!, data, 0, data.length, offset);
            sftp.status(reqid, STATUS_CODE.OK);
          });
          sftp.on('CLOSE', (reqid, handle) => {
            const id = handle.readUInt32BE(0);
            fs.closeSync(handles.get(id)!);
            handles.delete(id);
            sftp.status(reqid, STATUS_CODE.OK);
          });
          sftp.on('RENAME', (reqid, from, to) => {
            if (hang(`RENAME ${from}`)) return;
            fs.renameSync(local(from), local(to));
            sftp.status(reqid, STATUS_CODE.OK);
          });
          sftp.on('FSETSTAT', reqid => sftp.status(reqid, STATUS_CODE.OK));
          sftp.on('SETSTAT', reqid => sftp.status(reqid, STATUS_CODE.OK));
          sftp.on('FSTAT', (reqid, handle) =>
            sftp.attrs(reqid, attrsOf(fs.fstatSync(handles.get(handle.readUInt32BE(0))!))),
          );
          sftp.on('REMOVE', (reqid, p) => {
            fs.rmSync(local(p), { force: true });
            sftp.status(reqid, STATUS_CODE.OK);
          });
        });
      });
    });
  });
  // ssh2's Server emits its own 'connection' (a Connection); the TCP sockets are on its net.Server.
  (server as unknown as { _srv: net.Server })._srv.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hostKeySha256: fingerprintOf(publicKey.getPublicSSH()),
    username,
    password,
    root,
    stalled,
    close: async () => {
      for (const c of connections) c.end();
      for (const socket of sockets) socket.destroy();
      await new Promise(resolve => server.close(resolve));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
