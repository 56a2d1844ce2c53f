import { createExtensionPoint } from '@backstage/backend-plugin-api';
import type { AuthenticationStrategy } from '@backstage/plugin-kubernetes-node';
import type { ArchiveSink } from './sinks';

/**
 * Lets a backend module register more Kubernetes authentication strategies with the
 * volume-manager backend, using the same `AuthenticationStrategy` contract as Backstage's
 * Kubernetes plugin. The key is the value of a cluster's `authProvider`.
 *
 * @example
 * ```ts
 * createBackendModule({
 *   pluginId: 'volume-manager',
 *   moduleId: 'aws-auth',
 *   register(reg) {
 *     reg.registerInit({
 *       deps: { auth: volumeManagerAuthStrategyExtensionPoint, config: coreServices.rootConfig },
 *       async init({ auth, config }) {
 *         auth.addAuthStrategy('aws', new AwsIamStrategy({ config }));
 *       },
 *     });
 *   },
 * });
 * ```
 *
 * @public
 */
export interface VolumeManagerAuthStrategyExtensionPoint {
  addAuthStrategy(key: string, strategy: AuthenticationStrategy): void;
}

/** @public */
export const volumeManagerAuthStrategyExtensionPoint =
  createExtensionPoint<VolumeManagerAuthStrategyExtensionPoint>({
    id: 'volume-manager.auth-strategy',
  });

/**
 * Lets a backend module add archive destinations (S3, a vendor API, ...) to the volume-manager
 * backend without forking it. Each sink's `id` becomes a destination id that requests may name
 * and `GET /destinations` lists; it must not clash with `local` or a configured destination.
 *
 * @example
 * ```ts
 * createBackendModule({
 *   pluginId: 'volume-manager',
 *   moduleId: 's3-sink',
 *   register(reg) {
 *     reg.registerInit({
 *       deps: { sinks: volumeManagerArchiveSinkExtensionPoint, config: coreServices.rootConfig },
 *       async init({ sinks, config }) {
 *         sinks.addArchiveSink(new S3ArchiveSink({ id: 'offsite-s3', config }));
 *       },
 *     });
 *   },
 * });
 * ```
 *
 * @public
 */
export interface VolumeManagerArchiveSinkExtensionPoint {
  addArchiveSink(sink: ArchiveSink): void;
}

/** @public */
export const volumeManagerArchiveSinkExtensionPoint =
  createExtensionPoint<VolumeManagerArchiveSinkExtensionPoint>({
    id: 'volume-manager.archive-sink',
  });
