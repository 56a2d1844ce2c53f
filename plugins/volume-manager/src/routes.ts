import { createRouteRef } from '@backstage/core-plugin-api';

/**
 * Route of the volume-manager admin page (`VolumeManagerPage`).
 *
 * @public
 */
export const rootRouteRef = createRouteRef({
  id: 'volume-manager',
});

/**
 * Route of the Volumes tab on a catalog entity page (`EntityVolumeManagerContent`).
 *
 * @public
 */
export const entityContentRouteRef = createRouteRef({
  id: 'volume-manager:entity-content',
});
