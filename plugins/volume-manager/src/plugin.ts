import type { Entity } from '@backstage/catalog-model';
import {
  createApiFactory,
  createPlugin,
  createRoutableExtension,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import {
  ANNOTATION_KUBERNETES_ID,
  ANNOTATION_KUBERNETES_LABEL_SELECTOR,
} from '@nkvm/backstage-plugin-volume-manager-common';
import { VolumeManagerClient, volumeManagerApiRef } from './api';
import { entityContentRouteRef, rootRouteRef } from './routes';

/**
 * Whether an entity can have volumes: it carries the `backstage.io/kubernetes-id` or the
 * `backstage.io/kubernetes-label-selector` annotation. The same test as Backstage's
 * `isKubernetesAvailable`.
 *
 * @public
 */
export const isVolumeManagerAvailable = (entity: Entity): boolean =>
  Boolean(
    entity.metadata.annotations?.[ANNOTATION_KUBERNETES_ID] ||
      entity.metadata.annotations?.[ANNOTATION_KUBERNETES_LABEL_SELECTOR],
  );

/**
 * The volume-manager frontend plugin (legacy frontend system).
 *
 * @public
 */
export const volumeManagerPlugin = createPlugin({
  id: 'volume-manager',
  apis: [
    createApiFactory({
      api: volumeManagerApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new VolumeManagerClient({ discoveryApi, fetchApi }),
    }),
  ],
  routes: {
    root: rootRouteRef,
    entityContent: entityContentRouteRef,
  },
});

/**
 * The Volumes tab of a catalog entity page. Mount it in an `EntityLayout.Route` guarded by
 * {@link isVolumeManagerAvailable}.
 *
 * @public
 */
export const EntityVolumeManagerContent = volumeManagerPlugin.provide(
  createRoutableExtension({
    name: 'EntityVolumeManagerContent',
    component: () =>
      import('./components/EntityVolumeManagerContent').then(
        m => m.EntityVolumeManagerContent,
      ),
    mountPoint: entityContentRouteRef,
  }),
);

/**
 * The volume-manager admin page: clusters and backups across the portal.
 *
 * @public
 */
export const VolumeManagerPage = volumeManagerPlugin.provide(
  createRoutableExtension({
    name: 'VolumeManagerPage',
    component: () =>
      import('./components/VolumeManagerPage').then(m => m.VolumeManagerPage),
    mountPoint: rootRouteRef,
  }),
);
