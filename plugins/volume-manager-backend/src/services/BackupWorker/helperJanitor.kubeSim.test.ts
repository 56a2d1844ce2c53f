/*
 * The janitor against kube-sim with real stores: two installations share one cluster and never
 * delete each other's helpers, a helper whose item was claimed while the janitor listed is
 * kept, and a restore's helper is kept while the restore is live and deleted after.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { readVolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import { BACKUP_STORE_MIGRATIONS_DIR } from '../../database/migrateBackupStore';
import { DatabaseBackupStore } from '../../database/DatabaseBackupStore';
import { DatabaseRestoreStore } from '../../database/DatabaseRestoreStore';
import type { ClusterClient } from '../../kubernetes/ClusterClient';
import { createPod, listPods } from '../../kubernetes/pods';
import { createTestDatabases } from '../../__testUtils__/testDatabases';
import { recordBackup, restoreInto } from '../../__testUtils__/restoreFixtures';
import { faultFixture } from '../../__testUtils__/faultFixture';
import { startPluginBackend } from '../../__testUtils__/kubeSimBackend';
import { helperPodSpec } from '../BackupExecutor/helperPodSpec';
import { createClusterRegistry, type ClusterRegistry } from '../ClusterRegistry/ClusterRegistry';
import { createHelperJanitor } from './helperJanitor';

jest.setTimeout(60_000);
const databases = createTestDatabases();

describe('helper janitor', () => {
  let sim: KubeSim;
  let registry: ClusterRegistry;
  let client: ClusterClient;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: faultFixture(64 * 1024) });
    const config = readVolumeManagerConfig(
      new ConfigReader({ volumeManager: { clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }] } }),
      {},
    );
    registry = createClusterRegistry({ config, authStrategies: new Map(), logger: mockServices.logger.mock() });
    client = await registry.getClient('sim');
  });

  afterAll(async () => {
    await sim?.stop();
  });

  /** A store of its own (its own database), as another installation has. */
  async function newStore() {
    const knex = await databases.init('SQLITE_3');
    await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
    return DatabaseBackupStore.fromKnex(knex);
  }

  async function helper(installationId: string, itemId: string = randomUUID()) {
    const spec = helperPodSpec({
      namespace: 'faults',
      pvc: 'locked',
      runId: randomUUID(),
      itemId,
      installationId,
      image: 'alpine:3.20',
      activeDeadlineSeconds: 600,
      defaultSecurityMode: 'root',
    });
    await createPod(client, spec);
    return spec.metadata!.name!;
  }

  async function helperNames(): Promise<string[]> {
    const pods = await listPods(client, {
      namespace: 'faults',
      labelSelector: 'app.kubernetes.io/managed-by=nerdy-k8s-volume-manager',
    });
    return pods.map(p => p.metadata!.name!).sort();
  }

  it('deletes only helpers of its own installation', async () => {
    const [storeA, storeB] = [await newStore(), await newStore()];
    const [idA, idB] = [await storeA.installationId(), await storeB.installationId()];
    expect(idA).not.toBe(idB);
    expect(await storeA.installationId()).toBe(idA); // stable
    const podA = await helper(idA);
    const podB = await helper(idB);
    const logger = mockServices.logger.mock();

    // Neither store has a live item: each helper is an orphan, but only to its own installation.
    const janitorA = createHelperJanitor({ registry, store: storeA, logger, installationId: async () => idA });
    expect(await janitorA.sweep()).toBe(1);
    expect(await helperNames()).toEqual([podB]);

    const janitorB = createHelperJanitor({ registry, store: storeB, logger, installationId: async () => idB });
    expect(await janitorB.sweep()).toBe(1);
    expect(await helperNames()).not.toContain(podA);
    expect(await helperNames()).toEqual([]);
  });

  it('keeps the helper of an item claimed after its list began', async () => {
    const store = await newStore();
    const installationId = await store.installationId();
    const orphan = await helper(installationId);
    const run = await store.createRun({
      cluster: 'sim',
      destination: 'local',
      requestedBy: 'user:default/guest',
      items: [{ namespace: 'faults', pvc: 'locked' }],
    });
    let claimedDuringList: string | undefined;
    let claimedItemRun: string | undefined;
    // The janitor's pod list starts; meanwhile a worker claims the item and creates its helper.
    const racing: ClusterRegistry = {
      ...registry,
      getClient: async (name, userRef) => {
        const real = await registry.getClient(name, userRef);
        return {
          ...real,
          list: async (resource, options) => {
            if (resource === 'pods' && !claimedDuringList) {
              const item = await store.claimNextItem('worker-1', 60_000);
              claimedItemRun = item?.runId;
              claimedDuringList = await helper(installationId, item!.id);
            }
            return real.list(resource, options);
          },
        };
      },
    };
    const janitor = createHelperJanitor({
      registry: racing,
      store,
      logger: mockServices.logger.mock(),
      installationId: async () => installationId,
    });
    expect(await janitor.sweep()).toBe(1);
    expect(claimedItemRun).toBe(run.id);
    expect(claimedDuringList).toBeDefined();
    expect(await helperNames()).toEqual([claimedDuringList]);
    expect(await helperNames()).not.toContain(orphan);
  });

  it("keeps a live restore's helper and deletes it once the restore is no longer live", async () => {
    const knex = await databases.init('SQLITE_3');
    await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
    const store = DatabaseBackupStore.fromKnex(knex);
    const restores = DatabaseRestoreStore.fromKnex(knex);
    const installationId = await store.installationId();
    const item = await recordBackup(store, { cluster: 'sim', namespace: 'faults', pvc: 'locked' });
    const restore = await restores.createRestore(restoreInto(item));
    expect((await restores.claimNextRestore('worker-1', 60_000))?.id).toBe(restore.id);
    const restoreHelper = async (restoreId: string) => {
      const spec = helperPodSpec({
        namespace: 'faults',
        pvc: 'locked',
        restore: { restoreId, ownership: 'preserve' },
        installationId,
        image: 'alpine:3.20',
        activeDeadlineSeconds: 600,
        defaultSecurityMode: 'root',
      });
      await createPod(client, spec);
      return spec.metadata!.name!;
    };
    const live = await restoreHelper(restore.id);
    const orphan = await restoreHelper(randomUUID());
    const janitor = createHelperJanitor({
      registry,
      store,
      restores,
      logger: mockServices.logger.mock(),
      installationId: async () => installationId,
    });
    // (Earlier tests leave backup helpers of other installations: only restore helpers count here.)
    const restoreHelpers = async () => (await helperNames()).filter(n => n.startsWith('nkvm-restore-'));
    expect(await janitor.sweep()).toBe(1);
    expect(await restoreHelpers()).toEqual([live]);
    expect(orphan).not.toBe(live);

    await restores.finishRestore(restore.id, 'worker-1', { phase: 'failed', error: 'x' });
    expect(await janitor.sweep()).toBe(1);
    expect(await restoreHelpers()).toEqual([]);
  });

  it("sweeps users' pasted-kubeconfig sessions too", async () => {
    const store = await newStore();
    const installationId = await store.installationId();
    const orphan = await helper(installationId);
    // No configured cluster: the helper is reachable only through alice's session.
    const sessionsOnly = createClusterRegistry({
      config: readVolumeManagerConfig(new ConfigReader({}), {}),
      authStrategies: new Map(),
      logger: mockServices.logger.mock(),
    });
    sessionsOnly.createSession('user:default/alice', {
      name: 'pasted',
      kubeconfig: readFileSync(sim.kubeconfigPath, 'utf8'),
    });
    expect(sessionsOnly.clusterNames()).toEqual([]);
    const janitor = createHelperJanitor({
      registry: sessionsOnly,
      store,
      logger: mockServices.logger.mock(),
      installationId: async () => installationId,
    });
    expect(await janitor.sweep()).toBe(1);
    expect(await helperNames()).not.toContain(orphan);
  });

  it('two backends with different installation ids leave each other\'s helpers alone', async () => {
    const podA = await helper('install-a');
    const podB = await helper('install-b');
    const start = async (installationId: string) =>
      startPluginBackend({
        knex: await databases.init('SQLITE_3'),
        config: {
          volumeManager: { installationId, clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }] },
        },
      });
    const gone = async (pod: string) => {
      const deadline = Date.now() + 30_000;
      while ((await helperNames()).includes(pod)) {
        if (Date.now() > deadline) throw new Error(`${pod} was never deleted`);
        await new Promise(r => setTimeout(r, 100));
      }
    };

    const a = await start('install-a');
    await gone(podA); // A's janitor (its scheduler task) ran
    await new Promise(r => setTimeout(r, 1500));
    expect(await helperNames()).toContain(podB);

    const b = await start('install-b');
    await gone(podB);
    await a.stop();
    await b.stop();
  });
});
