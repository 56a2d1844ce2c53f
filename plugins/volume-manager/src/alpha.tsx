import {
  ApiBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
  NavItemBlueprint,
  PageBlueprint,
} from '@backstage/frontend-plugin-api';
import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import StorageIcon from '@material-ui/icons/Storage';
import { VolumeManagerClient, volumeManagerApiRef } from './api';
import { isVolumeManagerAvailable } from './plugin';
import { entityContentRouteRef, rootRouteRef } from './routes';

/** @alpha */
export const volumeManagerApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: volumeManagerApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new VolumeManagerClient({ discoveryApi, fetchApi }),
    }),
});

/** @alpha */
export const volumeManagerEntityContent = EntityContentBlueprint.make({
  params: {
    path: 'volumes',
    title: 'Volumes',
    routeRef: entityContentRouteRef,
    filter: isVolumeManagerAvailable,
    loader: () =>
      import('./components/EntityVolumeManagerContent').then(m => (
        <m.EntityVolumeManagerContent />
      )),
  },
});

/** @alpha */
export const volumeManagerPage = PageBlueprint.make({
  params: {
    path: '/volume-manager',
    routeRef: rootRouteRef,
    loader: () =>
      import('./components/VolumeManagerPage').then(m => (
        <m.VolumeManagerPage />
      )),
  },
});

/** @alpha */
export const volumeManagerNavItem = NavItemBlueprint.make({
  params: {
    title: 'Volume backups',
    icon: StorageIcon,
    routeRef: rootRouteRef,
  },
});

/**
 * The volume-manager frontend plugin for the new frontend system.
 *
 * @alpha
 */
export default createFrontendPlugin({
  pluginId: 'volume-manager',
  info: { packageJson: () => import('../package.json') },
  extensions: [
    volumeManagerApi,
    volumeManagerEntityContent,
    volumeManagerPage,
    volumeManagerNavItem,
  ],
  routes: {
    root: rootRouteRef,
    entityContent: entityContentRouteRef,
  },
});
