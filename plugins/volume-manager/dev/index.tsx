import { createDevApp } from '@backstage/dev-utils';
import type { Entity } from '@backstage/catalog-model';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import {
  EntityVolumeManagerContent,
  VolumeManagerPage,
  volumeManagerPlugin,
} from '../src';

// A demo entity with the same annotations as catalog/components.yaml. The dev app talks to the
// real backend at backend.baseUrl (start it with `npm start` at the repository root).
const paymentsApi: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'payments-api',
    namespace: 'default',
    annotations: {
      'backstage.io/kubernetes-id': 'payments-api',
      'backstage.io/kubernetes-namespace': 'payments',
    },
  },
  spec: { type: 'service', lifecycle: 'production', owner: 'team-payments' },
};

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
