import { screen } from '@testing-library/react';
import type { Entity } from '@backstage/catalog-model';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import {
  catalogApiRef,
  defaultEntityPresentation,
  entityPresentationApiRef,
  EntityProvider,
  entityRouteRef,
  starredEntitiesApiRef,
  MockStarredEntitiesApi,
} from '@backstage/plugin-catalog-react';
import { catalogApiMock } from '@backstage/plugin-catalog-react/testUtils';
import { catalogPlugin } from '@backstage/plugin-catalog';
import { discoveryApiRef } from '@backstage/core-plugin-api';
import {
  ScmIntegrationsApi,
  scmIntegrationsApiRef,
} from '@backstage/integration-react';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import {
  volumeManagerApiRef,
  type VolumeManagerApi,
} from '@nkvm/backstage-plugin-volume-manager';
import { entityPage } from './EntityPage';

const component = (annotations: Record<string, string>): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'payments-api', namespace: 'default', annotations },
  spec: { type: 'service', lifecycle: 'production', owner: 'team-payments' },
});

function renderEntityPage(entity: Entity) {
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [catalogApiRef, catalogApiMock({ entities: [entity] })],
        [starredEntitiesApiRef, new MockStarredEntitiesApi()],
        [permissionApiRef, mockApis.permission()],
        [discoveryApiRef, mockApis.discovery()],
        [
          scmIntegrationsApiRef,
          ScmIntegrationsApi.fromConfig(mockApis.config()),
        ],
        [
          entityPresentationApiRef,
          {
            forEntity: (entityOrRef: Entity | string) => {
              const snapshot = defaultEntityPresentation(entityOrRef);
              return { snapshot, promise: Promise.resolve(snapshot) };
            },
          },
        ],
        [
          volumeManagerApiRef,
          {
            // never resolves: the tab's content is not what this test is about
            getVolumes: jest.fn<ReturnType<VolumeManagerApi['getVolumes']>, []>(
              () => new Promise(() => {}),
            ),
          },
        ],
      ]}
    >
      <EntityProvider entity={entity}>{entityPage}</EntityProvider>
    </TestApiProvider>,
    {
      mountedRoutes: {
        '/catalog': catalogPlugin.routes.catalogIndex,
        '/catalog/:namespace/:kind/:name': entityRouteRef,
      },
    },
  );
}

// Rendering the whole entity page in jsdom takes seconds on two cores shared with other suites.
jest.setTimeout(30_000);

describe('entityPage', () => {
  it('shows the Volumes tab for a component with a Kubernetes annotation', async () => {
    await renderEntityPage(
      component({ 'backstage.io/kubernetes-id': 'payments-api' }),
    );
    expect(await screen.findByRole('tab', { name: 'Overview' })).toBeInTheDocument();
    expect(screen.getByRole('tab', { name: 'Volumes' })).toBeInTheDocument();
  });

  it('hides the Volumes tab without Kubernetes annotations', async () => {
    await renderEntityPage(component({}));
    expect(await screen.findByRole('tab', { name: 'Overview' })).toBeInTheDocument();
    expect(screen.queryByRole('tab', { name: 'Volumes' })).not.toBeInTheDocument();
  });
});
