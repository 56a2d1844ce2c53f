/*
 * An API server that accepts TCP connections and never answers (a net.Server on 127.0.0.1):
 * every Kubernetes call must end within `kubernetes.requestTimeoutSeconds` with a clear error,
 * or at once when the item is cancelled, and the inventory must report the cluster as an
 * error entry within `discovery.timeoutSeconds`.
 */
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import { kubeconfigFileFor } from '../__testUtils__/kubeSimBackend';
import { readVolumeManagerConfig } from '../config/readVolumeManagerConfig';
import { LocalArchiveSink } from '../services/ArchiveSinks/LocalArchiveSink';
import { createBackupExecutor } from '../services/BackupExecutor/BackupExecutor';
import { createClusterRegistry } from '../services/ClusterRegistry/ClusterRegistry';
import { createVolumeInventory } from '../services/VolumeInventory/VolumeInventory';

jest.setTimeout(30_000);

/** Accepts connections, reads whatever arrives, never writes a byte. */
async function silentServer() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(socket => {
    sockets.add(socket);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise(resolve => server.close(resolve));
    },
  };
}

const kubeconfigFor = (port: number, scheme: 'http' | 'https') =>
  kubeconfigFileFor('silent', `${scheme}://127.0.0.1:${port}`);

describe.each(['http', 'https'] as const)('an API server that never answers (%s)', scheme => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let config: ReturnType<typeof readVolumeManagerConfig>;

  beforeAll(async () => {
    silent = await silentServer();
    config = readVolumeManagerConfig(
      new ConfigReader({
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-silent-backups-')),
          kubernetes: { requestTimeoutSeconds: 1 },
          discovery: { timeoutSeconds: 2 },
          clusters: [{ name: 'silent', kubeconfigPath: kubeconfigFor(silent.port, scheme) }],
        },
      }),
      {},
    );
  });

  afterAll(async () => {
    await silent?.close();
  });

  const registry = () =>
    createClusterRegistry({ config, authStrategies: new Map(), logger: mockServices.logger.mock() });
  const job = {
    runId: 'run-1',
    itemId: 'item-1',
    cluster: 'silent',
    namespace: 'ns',
    pvc: 'data',
    requestedBy: 'user:default/guest',
  };

  it('fails a backup item within kubernetes.requestTimeoutSeconds, with a clear error', async () => {
    const executor = createBackupExecutor({
      registry: registry(),
      config,
      logger: mockServices.logger.mock(),
      installationId: async () => 'test',
    });
    const started = Date.now();
    const error = await executor
      .run(job, new LocalArchiveSink(config.backupDir), {
        signal: new AbortController().signal,
        onHelperPod: () => {},
        onProgress: () => {},
      })
      .catch(e => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(
      /Cluster 'silent' did not answer within 1s \(get persistentvolumeclaims; kubernetes.requestTimeoutSeconds\)/,
    );
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5000);
  });

  it('ends the waiting call at once when the item is cancelled', async () => {
    const slow = readVolumeManagerConfig(
      new ConfigReader({
        volumeManager: {
          kubernetes: { requestTimeoutSeconds: 60 },
          clusters: [{ name: 'silent', kubeconfigPath: kubeconfigFor(silent.port, scheme) }],
        },
      }),
      {},
    );
    const executor = createBackupExecutor({
      registry: createClusterRegistry({ config: slow, authStrategies: new Map(), logger: mockServices.logger.mock() }),
      config: slow,
      logger: mockServices.logger.mock(),
      installationId: async () => 'test',
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const error = await executor
      .run(job, new LocalArchiveSink(config.backupDir), {
        signal: controller.signal,
        onHelperPod: () => {},
        onProgress: () => {},
      })
      .catch(e => e);
    expect(error.message).toMatch(/Cancelled while waiting for cluster 'silent' \(get persistentvolumeclaims\)/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('reports the cluster as an inventory error entry within discovery.timeoutSeconds', async () => {
    // The request timeout is longer than the discovery budget: the budget alone must end it.
    const inventoryConfig = readVolumeManagerConfig(
      new ConfigReader({
        volumeManager: {
          kubernetes: { requestTimeoutSeconds: 60 },
          discovery: { timeoutSeconds: 2 },
          clusters: [{ name: 'silent', kubeconfigPath: kubeconfigFor(silent.port, scheme) }],
        },
      }),
      {},
    );
    const inventory = createVolumeInventory({
      registry: createClusterRegistry({
        config: inventoryConfig,
        authStrategies: new Map(),
        logger: mockServices.logger.mock(),
      }),
      config: inventoryConfig,
    });
    const started = Date.now();
    const result = await inventory.list({ entities: [] });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.items).toEqual([]);
    expect(result.errors).toEqual([
      expect.objectContaining({
        cluster: 'silent',
        errorType: 'TIMEOUT',
        message: "Cluster 'silent' did not answer within 2s (discovery.timeoutSeconds)",
      }),
    ]);
  });
});
