import { createDevApp } from '@backstage/dev-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import {
  EntityVolumeManagerContent,
  VolumeManagerPage,
  volumeManagerPlugin,
} from '../src';
import { paymentsApiEntity as paymentsApi } from '../src/__fixtures__/fakeVolumeManagerApi';

createDevApp()
  .registerPlugin(volumeManagerPlugin)
  .addPage({
    element: <VolumeManagerPage />,
    title: 'Admin page',
    path: '/volume-manager',
  })
  .addPage({
    element: (
      <EntityProvider entity={paymentsApi}>
        <EntityVolumeManagerContent />
      </EntityProvider>
    ),
    title: 'Entity tab',
    path: '/volume-manager-entity',
  })
  .render();
