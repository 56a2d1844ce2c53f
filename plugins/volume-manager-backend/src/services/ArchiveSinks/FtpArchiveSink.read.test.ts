/*
 * The FTP sink's read() against a scripted server that misbehaves in ways vsftpd will not on
 * cue: it confirms a transfer (226) after sending fewer bytes than SIZE said, or has no SIZE.
 * The reader must never see a short archive end as if it were complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { mockServices } from '@backstage/backend-test-utils';
import { FtpArchiveSink } from './FtpArchiveSink';
import { normalizeRemoteDestination } from './remoteDestination';

jest.setTimeout(30_000);

const FILE = 'data-20261204T100000Z.tar.gz';
const URI_PATH = `backups/c1/ns/data/${FILE}`;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Script {
  /** The archive the server sends on RETR. */
  content: Buffer;
  /** What SIZE answers: a byte count, or a reply line. */
  size: number | string;
  /** Bytes of `content` actually sent before 226 (all by default). */
  send?: number;
  /** After `send` bytes, keep the data connection open and go silent (no 226). */
  stall?: boolean;
}

async function scriptedFtpServer(script: () => Script) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(control => {
    sockets.add(control);
    control.on('close', () => sockets.delete(control));
    control.on('error', () => {});
    let passive: net.Server | undefined;
    let data: Promise<net.Socket> | undefined;
    const reply = (line: string) => control.write(`${line}\r\n`);
    reply('220 scripted');
    let buffered = '';
    control.on('data', async chunk => {
      buffered += chunk.toString('latin1');
      for (let i = buffered.indexOf('\r\n'); i >= 0; i = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 2);
        const [verb, ...rest] = line.split(' ');
        const arg = rest.join(' ');
        const s = script();
        switch (verb.toUpperCase()) {
          case 'USER':
            reply('331 password please');
            break;
          case 'PASS':
            reply('230 logged in');
            break;
          case 'PWD':
            reply('257 "/"');
            break;
          case 'CWD':
          case 'TYPE':
          case 'STRU':
          case 'OPTS':
            reply('200 ok');
            break;
          case 'EPSV':
          case 'PASV': {
            passive?.close();
            const p = net.createServer();
            passive = p;
            data = new Promise(resolve => p.once('connection', resolve));
            await new Promise<void>(resolve => p.listen(0, '127.0.0.1', resolve));
            const port = (p.address() as net.AddressInfo).port;
            if (verb.toUpperCase() === 'EPSV') reply(`229 Entering Extended Passive Mode (|||${port}|)`);
            else reply(`227 Entering Passive Mode (127,0,0,1,${port >> 8},${port & 255})`);
            break;
          }
          case 'SIZE':
            if (typeof s.size === 'number') reply(`213 ${arg === FILE ? s.size : 0}`);
            else reply(s.size);
            break;
          case 'RETR': {
            const body = arg === `${FILE}.sha256` ? Buffer.from(`${sha256(s.content)}  ${FILE}\n`) : s.content;
            const socket = await data!;
            reply('150 here it comes');
            if (arg === FILE && s.stall) {
              socket.write(body.subarray(0, s.send ?? 0));
              sockets.add(socket);
            } else {
              socket.end(arg === FILE ? body.subarray(0, s.send ?? body.length) : body, () => {
                setTimeout(() => reply('226 transfer complete'), 50);
              });
            }
            passive?.close();
            break;
          }
          case 'QUIT':
            reply('221 bye');
            control.end();
            break;
          default:
            reply('502 not implemented');
        }
      }
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      sockets.forEach(s => s.destroy());
      await new Promise(resolve => server.close(resolve));
    },
  };
}

describe('FtpArchiveSink.read against a server that misreports', () => {
  let current: Script;
  let server: Awaited<ReturnType<typeof scriptedFtpServer>>;

  beforeAll(async () => {
    server = await scriptedFtpServer(() => current);
  });
  afterAll(() => server.close());

  const sink = (timeoutMs = 5000) =>
    new FtpArchiveSink(
      normalizeRemoteDestination(
        { type: 'ftp', host: '127.0.0.1', port: server.port, username: 'u', password: 'p', remoteDir: 'backups' },
        { id: 'scripted', what: 'test destination' },
      ),
      { retry: { attempts: 1, initialDelayMs: 10, maxDelayMs: 10, timeoutMs }, logger: mockServices.logger.mock() },
    );
  const uri = () => `ftp://127.0.0.1:${server.port}/${URI_PATH}`;

  async function readAll(stream: NodeJS.ReadableStream) {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  it('reads an archive when the server answers truthfully (the script works)', async () => {
    current = { content: randomBytes(300_000), size: 300_000 };
    const download = await sink().read(uri());
    expect(download.bytes).toBe(300_000);
    expect(download.sidecarSha256).toBe(sha256(current.content));
    expect((await readAll(download.stream)).equals(current.content)).toBe(true);
  });

  it('fails the stream, transiently, when 226 follows fewer bytes than SIZE said', async () => {
    current = { content: randomBytes(300_000), size: 300_000, send: 200_000 };
    const download = await sink().read(uri());
    let ended = false;
    download.stream.on('end', () => (ended = true));
    const error = await readAll(download.stream).catch(e => e);
    expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: true });
    expect(error.message).toContain(`reading ${URI_PATH}: received 200000 of 300000 bytes`);
    expect(ended).toBe(false);
  });

  it('reads without a size when the server has no SIZE command', async () => {
    current = { content: randomBytes(100_000), size: '502 SIZE not implemented' };
    const download = await sink().read(uri());
    expect(download.bytes).toBeUndefined();
    expect((await readAll(download.stream)).equals(current.content)).toBe(true);
  });

  it('names the archive when SIZE says it does not exist', async () => {
    current = { content: randomBytes(10), size: '550 Could not get file size.' };
    const error = await sink()
      .read(uri())
      .catch(e => e);
    expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: false });
    expect(error.message).toContain(`${URI_PATH} does not exist`);
  });

  it('fails the stream, transiently and within the timeout, when the server stops sending mid-file', async () => {
    current = { content: randomBytes(300_000), size: 300_000, send: 100_000, stall: true };
    const started = Date.now();
    const download = await sink(1000).read(uri());
    const error = await readAll(download.stream).catch(e => e);
    expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: true });
    expect(error.message).toContain(`reading ${URI_PATH}`);
    expect(error.message).toMatch(/[Tt]imeout/);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('stops at once when cancelled while the server stalls mid-file', async () => {
    current = { content: randomBytes(300_000), size: 300_000, send: 100_000, stall: true };
    const controller = new AbortController();
    const download = await sink().read(uri(), { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const error = await readAll(download.stream).catch(e => e);
    expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: false, message: expect.stringMatching(/cancelled/) });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
