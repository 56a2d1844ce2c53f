/*
 * The SCP (SFTP) sink against a server that stops answering: a checksum command that never
 * returns fails the commit within the command timeout, and cancelling works while the sink
 * connects (`open`) and while it finishes (`commit`).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { mockServices } from '@backstage/backend-test-utils';
import { startStallingSshServer, type StallingSshServer } from '../../__testUtils__/stallingSshServer';
import { normalizeRemoteDestination } from './remoteDestination';
import { ScpArchiveSink } from './ScpArchiveSink';

jest.setTimeout(30_000);

const target = { cluster: 'c1', namespace: 'ns', pvc: 'data', startedAt: new Date('2026-12-04T10:00:00Z') };

describe('ScpArchiveSink against a server that stops answering', () => {
  let server: StallingSshServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function sinkFor(stall: (request: string) => boolean, timeoutMs: number) {
    server = await startStallingSshServer({ stall });
    const destination = normalizeRemoteDestination(
      {
        type: 'scp',
        host: '127.0.0.1',
        port: server.port,
        username: server.username,
        password: server.password,
        remoteDir: 'backups',
        hostKeySha256: server.hostKeySha256,
      },
      { id: 'stalling', what: 'test destination' },
    );
    return new ScpArchiveSink(destination, {
      retry: { attempts: 1, initialDelayMs: 10, maxDelayMs: 10, timeoutMs },
      logger: mockServices.logger.mock(),
    });
  }

  async function write(upload: { stream: NodeJS.WritableStream }, data: Buffer) {
    await new Promise<void>((resolve, reject) => upload.stream.write(data, e => (e ? reject(e) : resolve())));
  }

  it('uploads and commits when the server answers (the fixture works)', async () => {
    const sink = await sinkFor(() => false, 5000);
    const data = randomBytes(300_000);
    const upload = await sink.open(target);
    await write(upload, data);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const { uri } = await upload.commit({ sha256, bytes: data.length });
    expect(uri).toMatch(/^sftp:\/\/backup@127.0.0.1:\d+\/backups\/c1\/ns\/data\/data-20261204T100000Z.tar.gz$/);
    const stored = fs.readFileSync(path.join(server!.root, 'backups/c1/ns/data/data-20261204T100000Z.tar.gz'));
    expect(stored.equals(data)).toBe(true);
    expect(fs.readFileSync(path.join(server!.root, 'backups/c1/ns/data/data-20261204T100000Z.tar.gz.sha256'), 'utf8')).toBe(
      `${sha256}  data-20261204T100000Z.tar.gz\n`,
    );
  });

  it('aborts an upload that has not failed yet, and removes the partial file', async () => {
    const sink = await sinkFor(() => false, 5000);
    const upload = await sink.open(target);
    await write(upload, randomBytes(50_000));
    const partial = path.join(server!.root, 'backups/c1/ns/data/data-20261204T100000Z.tar.gz.partial');
    expect(fs.existsSync(partial)).toBe(true);
    const started = Date.now();
    await upload.abort();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(fs.existsSync(partial)).toBe(false);
  });

  it('fails the commit within the command timeout when sha256sum never returns', async () => {
    const sink = await sinkFor(request => request.startsWith('exec sha256sum'), 1000);
    const data = randomBytes(100_000);
    const upload = await sink.open(target);
    await write(upload, data);
    const started = Date.now();
    const error = await upload
      .commit({ sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length })
      .catch(e => e);
    expect(server!.stalled).toEqual([expect.stringMatching(/^exec sha256sum -- /)]);
    expect(error.message).toMatch(/'sha256sum' did not answer within 1s \(remoteTransfer.timeoutSeconds\)/);
    expect(Date.now() - started).toBeLessThan(5000);
    // nothing under the final name
    expect(fs.existsSync(path.join(server!.root, 'backups/c1/ns/data/data-20261204T100000Z.tar.gz'))).toBe(false);
  });

  it('stops connecting at once when cancelled during open (the server stalls on mkdir)', async () => {
    const sink = await sinkFor(request => request.startsWith('MKDIR'), 60_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const error = await sink.open(target, { signal: controller.signal }).catch(e => e);
    expect(server!.stalled.some(r => r.startsWith('MKDIR'))).toBe(true);
    expect(error.message).toMatch(/cancelled/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('stops finishing at once when cancelled during commit (the server stalls on sha256sum)', async () => {
    const sink = await sinkFor(request => request.startsWith('exec sha256sum'), 60_000);
    const data = randomBytes(100_000);
    const upload = await sink.open(target);
    await write(upload, data);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const error = await upload
      .commit({ sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length }, { signal: controller.signal })
      .catch(e => e);
    expect(server!.stalled).toEqual([expect.stringMatching(/^exec sha256sum -- /)]);
    expect(error.message).toMatch(/cancelled/);
    expect(Date.now() - started).toBeLessThan(3000);
    await upload.abort();
    expect(fs.readdirSync(path.join(server!.root, 'backups/c1/ns/data'))).toEqual([]);
  });

  async function uploaded(sink: ScpArchiveSink, data: Buffer) {
    const upload = await sink.open(target);
    await write(upload, data);
    return (await upload.commit({ sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length })).uri;
  }

  it('reads back when the server answers (the fixture serves READ)', async () => {
    const sink = await sinkFor(() => false, 5000);
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const download = await sink.read(await uploaded(sink, data));
    const chunks: Buffer[] = [];
    for await (const chunk of download.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('fails the stream, transiently and within the timeout, when a READ mid-file is never answered', async () => {
    const sink = await sinkFor(request => /^READ .*\.tar\.gz@(\d+)$/.test(request) && Number(request.split('@')[1]) >= 2 * 1024 * 1024, 1000);
    const data = randomBytes(4 * 1024 * 1024);
    const download = await sink.read(await uploaded(sink, data));
    let received = 0;
    const started = Date.now();
    const error = await (async () => {
      for await (const chunk of download.stream) received += (chunk as Buffer).length;
    })().catch(e => e);
    expect(server!.stalled.some(r => r.startsWith('READ '))).toBe(true);
    expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: true });
    expect(error.message).toMatch(/reading backups\/c1\/ns\/data\/data-20261204T100000Z\.tar\.gz: .*did not answer within 1s/);
    // What came before the stalled READ arrived; nothing past it.
    expect(received).toBeGreaterThan(1024 * 1024);
    expect(received).toBeLessThanOrEqual(2 * 1024 * 1024 + 256 * 1024);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('stops reading at once when cancelled while the server stalls on the sidecar', async () => {
    const sink = await sinkFor(request => request.startsWith('OPEN ') && request.endsWith('.sha256'), 60_000);
    const uri = await uploaded(sink, randomBytes(1000));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const error = await sink.read(uri, { signal: controller.signal }).catch(e => e);
    expect(server!.stalled.some(r => r.endsWith('.sha256'))).toBe(true);
    expect(error).toMatchObject({ name: 'ArchiveSinkError', transient: false, message: expect.stringMatching(/cancelled/) });
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
