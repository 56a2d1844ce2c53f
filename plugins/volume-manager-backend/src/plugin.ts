import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import type { AuthenticationStrategy } from '@backstage/plugin-kubernetes-node';
import { volumeManagerPermissions } from '@nkvm/backstage-plugin-volume-manager-common';
import {
  volumeManagerArchiveSinkExtensionPoint,
  volumeManagerAuthStrategyExtensionPoint,
  type ArchiveSink,
} from '@nkvm/backstage-plugin-volume-manager-node';
import { readVolumeManagerConfig } from './config/readVolumeManagerConfig';
import { installationIdResolver } from './database/installationId';
import { openStores } from './database/openStores';
import { builtInAuthStrategies } from './kubernetes/authStrategies';
import { createRouter } from './router';
import { ArchiveSinkRegistry } from './services/ArchiveSinks/ArchiveSinkRegistry';
import { LocalArchiveSink } from './services/ArchiveSinks/LocalArchiveSink';
import { sweepOrphanedControlDirs, sweepStaleStaging } from './services/ArchiveSinks/RsyncArchiveSink';
import { createBackupExecutor } from './services/BackupExecutor/BackupExecutor';
import { createBackupService } from './services/BackupService/BackupService';
import { BackupWorker } from './services/BackupWorker/BackupWorker';
import { createHelperJanitor } from './services/BackupWorker/helperJanitor';
import { createClusterRegistry } from './services/ClusterRegistry/ClusterRegistry';
import { createRestoreExecutor } from './services/RestoreExecutor/RestoreExecutor';
import { createRestoreService } from './services/RestoreService/RestoreService';
import { RestoreWorker } from './services/RestoreWorker/RestoreWorker';
import { decorateWithBackups } from './services/VolumeInventory/decorateWithBackups';
import { createVolumeInventory } from './services/VolumeInventory/VolumeInventory';
import { createVolumeQueryService } from './services/VolumeInventory/VolumeQueryService';

/** How often the housekeeping tasks run (janitor, partial-archive and staging sweeps). */
const HOUSEKEEPING_FREQUENCY = { minutes: 1 };
const HOUSEKEEPING_TIMEOUT = { minutes: 10 };

/**
 * The volume-manager backend plugin: inventories PVCs, backs them up as `.tar.gz` archives
 * streamed out of short-lived helper pods, and restores those archives into new or existing PVCs.
 *
 * @public
 */
export const volumeManagerPlugin = createBackendPlugin({
  pluginId: 'volume-manager',
  register(env) {
    const extraStrategies = new Map<string, AuthenticationStrategy>();
    env.registerExtensionPoint(volumeManagerAuthStrategyExtensionPoint, {
      addAuthStrategy(key, strategy) {
        if (extraStrategies.has(key)) {
          throw new Error(`Auth strategy '${key}' is already registered`);
        }
        extraStrategies.set(key, strategy);
      },
    });
    const extraSinks: ArchiveSink[] = [];
    env.registerExtensionPoint(volumeManagerArchiveSinkExtensionPoint, {
      addArchiveSink(sink) {
        extraSinks.push(sink);
      },
    });

    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        auth: coreServices.auth,
        logger: coreServices.logger,
        lifecycle: coreServices.lifecycle,
        scheduler: coreServices.scheduler,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        auditor: coreServices.auditor,
        catalog: catalogServiceRef,
      },
      async init(deps) {
        const options = readVolumeManagerConfig(deps.config);
        const { backups: store, restores: restoreStore } = await openStores(deps.database);
        const installationId = installationIdResolver(options.installationId, store);
        deps.permissionsRegistry.addPermissions(volumeManagerPermissions);

        const clusters = createClusterRegistry({
          config: options,
          authStrategies: new Map([...builtInAuthStrategies(), ...extraStrategies]),
          logger: deps.logger,
        });
        const volumes = createVolumeQueryService({
          inventory: createVolumeInventory({ registry: clusters, config: options }),
          catalog: deps.catalog,
          permissions: deps.permissions,
          auth: deps.auth,
          decorate: decorateWithBackups(store),
        });
        // Open partials are touched every lease, well inside the sweep's 4 leases below.
        const localSink = new LocalArchiveSink(options.backupDir, { touchIntervalMs: options.leaseSeconds * 1000 });
        const sinks = new ArchiveSinkRegistry({
          localSink,
          configured: options.destinations,
          extra: extraSinks,
          retry: options.remoteTransfer,
          logger: deps.logger,
          backupDir: options.backupDir,
        });
        const janitor = createHelperJanitor({
          registry: clusters,
          store,
          restores: restoreStore,
          logger: deps.logger,
          installationId,
          allowedNamespaces: options.allowedNamespaces,
        });
        const worker = new BackupWorker({
          store,
          executor: createBackupExecutor({
            registry: clusters,
            config: options,
            logger: deps.logger,
            installationId,
          }),
          sinkFor: item => sinks.sinkFor(item),
          adHocItemIds: () => sinks.adHocItemIds(),
          publicFailure: (item, error) => sinks.publicFailure(item.id, error),
          onItemDone: item => sinks.release(item.id),
          onHeldItemGone: itemId => sinks.release(itemId),
          cleanupHelper: item => janitor.cleanupItem(item),
          logger: deps.logger,
          concurrency: options.concurrency,
          leaseMs: options.leaseSeconds * 1000,
        });
        const backups = createBackupService({
          store,
          volumes,
          config: options,
          worker,
          localSink,
          sinks,
          auditor: deps.auditor,
          permissions: deps.permissions,
          logger: deps.logger,
          knownClusters: userRef => clusters.clusterNames(userRef),
        });

        const restoreWorker = new RestoreWorker({
          store: restoreStore,
          executor: createRestoreExecutor({
            registry: clusters,
            config: options,
            logger: deps.logger,
            installationId,
          }),
          sinkFor: restore => sinks.sinkFor({ id: restore.itemId, destination: restore.source.destination }),
          backups: {
            store,
            kick: () => worker.kick(),
            abort: itemId => worker.abort(itemId),
          },
          logger: deps.logger,
          concurrency: options.restore.concurrency,
          leaseMs: options.leaseSeconds * 1000,
        });
        const restores = createRestoreService({
          store: restoreStore,
          backupStore: store,
          volumes,
          config: options,
          worker: restoreWorker,
          sinks,
          knownClusters: userRef => clusters.clusterNames(userRef),
        });

        deps.httpRouter.use(
          await createRouter({
            httpAuth: deps.httpAuth,
            permissions: deps.permissions,
            auditor: deps.auditor,
            clusters,
            volumes,
            backups,
            restores,
            automationSubjects: options.automationSubjects,
          }),
        );
        deps.httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });

        // Housekeeping runs through the scheduler, not timers: the janitor as a global task, so
        // replicas sharing the database never sweep at once; the file sweeps per replica
        // (`local`), since each replica may have its own backupDir.
        await deps.scheduler.scheduleTask({
          id: 'volume-manager-helper-janitor',
          scope: 'global',
          frequency: HOUSEKEEPING_FREQUENCY,
          timeout: HOUSEKEEPING_TIMEOUT,
          fn: async signal => {
            await janitor.sweep(signal).catch(e => deps.logger.warn(`Helper-pod janitor failed: ${e}`));
          },
        });
        await deps.scheduler.scheduleTask({
          id: 'volume-manager-file-sweeps',
          scope: 'local',
          frequency: HOUSEKEEPING_FREQUENCY,
          timeout: HOUSEKEEPING_TIMEOUT,
          fn: async () => {
            await localSink
              .sweepStalePartials(4 * options.leaseSeconds * 1000)
              .then(removed => removed.forEach(file => deps.logger.info('Removed a stale partial archive', { file })))
              .catch(e => deps.logger.warn(`Partial-archive sweep failed: ${e}`));
            // rsync staging a killed backend left behind (nothing stages longer than a helper lives)
            await sweepStaleStaging(options.backupDir, 2 * options.helper.activeDeadlineSeconds * 1000)
              .then(removed => removed.forEach(dir => deps.logger.info('Removed a stale rsync staging directory', { dir })))
              .catch(e => deps.logger.warn(`Staging sweep failed: ${e}`));
          },
        });
        deps.lifecycle.addStartupHook(async () => {
          // rsync key, password and askpass files a killed backend left in the temp directory
          await sweepOrphanedControlDirs()
            .then(removed => removed.forEach(dir => deps.logger.info('Removed an orphaned rsync control directory', { dir })))
            .catch(e => deps.logger.warn(`rsync control directory sweep failed: ${e}`));
          worker.start();
          restoreWorker.start();
        });
        deps.lifecycle.addShutdownHook(async () => {
          // Restores first: one waiting for its safety backup is interrupted before that backup.
          await restoreWorker.stop();
          await worker.stop();
        });
        deps.logger.info('volume-manager ready', {
          clusters: clusters.clusterNames().join(',') || 'none',
          backupDir: options.backupDir,
          helperImage: options.helper.image,
          installationId: options.installationId ?? 'stored in the plugin database',
        });
      },
    });
  },
});
