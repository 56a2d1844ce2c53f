import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import type { AuthenticationStrategy } from '@backstage/plugin-kubernetes-node';
import { volumeManagerPermissions } from '@nkvm/backstage-plugin-volume-manager-common';
import { volumeManagerAuthStrategyExtensionPoint } from '@nkvm/backstage-plugin-volume-manager-node';
import { readVolumeManagerConfig } from './config/readVolumeManagerConfig';
import { migrateBackupStore } from './database/migrateBackupStore';
import { createRouter } from './router';

/**
 * The volume-manager backend plugin: inventories PVCs and backs them up as `.tar.gz` archives
 * streamed out of short-lived helper pods.
 *
 * @public
 */
export const volumeManagerPlugin = createBackendPlugin({
  pluginId: 'volume-manager',
  register(env) {
    const authStrategies = new Map<string, AuthenticationStrategy>();
    env.registerExtensionPoint(volumeManagerAuthStrategyExtensionPoint, {
      addAuthStrategy(key, strategy) {
        if (authStrategies.has(key)) {
          throw new Error(`Auth strategy '${key}' is already registered`);
        }
        authStrategies.set(key, strategy);
      },
    });

    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        logger: coreServices.logger,
        permissionsRegistry: coreServices.permissionsRegistry,
      },
      async init({ config, database, httpRouter, logger, permissionsRegistry }) {
        const options = readVolumeManagerConfig(config);
        await migrateBackupStore(database);
        permissionsRegistry.addPermissions(volumeManagerPermissions);

        httpRouter.use(await createRouter());
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
        logger.info('volume-manager ready', {
          backupDir: options.backupDir,
          helperImage: options.helper.image,
          authStrategies: [...authStrategies.keys()].join(',') || 'built-in only',
        });
      },
    });
  },
});
