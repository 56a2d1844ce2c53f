import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import type { AuthenticationStrategy } from '@backstage/plugin-kubernetes-node';
import { volumeManagerPermissions } from '@nkvm/backstage-plugin-volume-manager-common';
import { volumeManagerAuthStrategyExtensionPoint } from '@nkvm/backstage-plugin-volume-manager-node';
import { readVolumeManagerConfig } from './config/readVolumeManagerConfig';
import { migrateBackupStore } from './database/migrateBackupStore';
import { builtInAuthStrategies } from './kubernetes/authStrategies';
import { createRouter } from './router';
import { createClusterRegistry } from './services/ClusterRegistry/ClusterRegistry';
import { createVolumeInventory } from './services/VolumeInventory/VolumeInventory';
import { createVolumeQueryService } from './services/VolumeInventory/VolumeQueryService';

/**
 * The volume-manager backend plugin: inventories PVCs and backs them up as `.tar.gz` archives
 * streamed out of short-lived helper pods.
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

    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        logger: coreServices.logger,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        auditor: coreServices.auditor,
        catalog: catalogServiceRef,
      },
      async init(deps) {
        const options = readVolumeManagerConfig(deps.config);
        await migrateBackupStore(deps.database);
        deps.permissionsRegistry.addPermissions(volumeManagerPermissions);

        const authStrategies = new Map([...builtInAuthStrategies(), ...extraStrategies]);
        const clusters = createClusterRegistry({
          config: options,
          authStrategies,
          logger: deps.logger,
        });
        const inventory = createVolumeInventory({ registry: clusters, config: options });
        const volumes = createVolumeQueryService({
          inventory,
          catalog: deps.catalog,
          permissions: deps.permissions,
        });

        deps.httpRouter.use(
          await createRouter({
            httpAuth: deps.httpAuth,
            permissions: deps.permissions,
            auditor: deps.auditor,
            clusters,
            volumes,
          }),
        );
        deps.httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
        deps.logger.info('volume-manager ready', {
          clusters: clusters.clusterNames().join(',') || 'none',
          backupDir: options.backupDir,
          helperImage: options.helper.image,
        });
      },
    });
  },
});
