import { createExtensionPoint } from '@backstage/backend-plugin-api';
import type { AuthenticationStrategy } from '@backstage/plugin-kubernetes-node';

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
