/*
 * The FTP sink against a server that greets and then never answers a command (basic-ftp's
 * first one is `OPTS UTF8 ON`, then USER/PASS): the login fails within the command timeout,
 * and a cancel ends `open` at once.
 */
import net from 'node:net';
import { mockServices } from '@backstage/backend-test-utils';
import { FtpArchiveSink } from './FtpArchiveSink';
import { normalizeRemoteDestination } from './remoteDestination';

jest.setTimeout(30_000);

const target = { cluster: 'c1', namespace: 'ns', pvc: 'data', startedAt: new Date('2026-12-04T10:00:00Z') };

describe('FtpArchiveSink against a server that stops answering', () => {
  let server: net.Server;
  const sockets = new Set<net.Socket>();
  const stalledOn: string[] = [];

  beforeAll(async () => {
    server = net.createServer(socket => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.write('220 stalling test server\r\n');
      socket.on('data', data => {
        const command = data.toString('latin1').trim();
        if (command.startsWith('USER')) socket.write('331 password please\r\n');
        else stalledOn.push(command.split(' ')[0]); // everything else: silence
      });
    });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    sockets.forEach(s => s.destroy());
    await new Promise(resolve => server.close(resolve));
  });

  const sink = (timeoutMs: number) =>
    new FtpArchiveSink(
      normalizeRemoteDestination(
        {
          type: 'ftp',
          host: '127.0.0.1',
          port: (server.address() as net.AddressInfo).port,
          username: 'backup',
          password: 'secret',
          remoteDir: 'backups',
        },
        { id: 'stalling-ftp', what: 'test destination' },
      ),
      { retry: { attempts: 1, initialDelayMs: 10, maxDelayMs: 10, timeoutMs }, logger: mockServices.logger.mock() },
    );

  it('fails within the command timeout when the server never answers', async () => {
    stalledOn.length = 0;
    const started = Date.now();
    const error = await sink(1000).open(target).catch(e => e);
    expect(stalledOn.length).toBeGreaterThan(0);
    expect(error.message).toMatch(/FTP 127\.0\.0\.1:\d+: connecting/);
    expect(error.message).toMatch(/[Tt]imeout/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('stops at once when cancelled while the server stalls', async () => {
    stalledOn.length = 0;
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const error = await sink(60_000).open(target, { signal: controller.signal }).catch(e => e);
    expect(stalledOn.length).toBeGreaterThan(0);
    expect(error.message).toMatch(/cancelled/);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
