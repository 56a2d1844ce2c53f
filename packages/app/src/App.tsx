import { Navigate, Route } from 'react-router-dom';
import { createApp } from '@backstage/app-defaults';
import { AppRouter, FlatRoutes } from '@backstage/core-app-api';
import {
  AlertDisplay,
  OAuthRequestDialog,
  SignInPage,
} from '@backstage/core-components';
import {
  CatalogEntityPage,
  CatalogIndexPage,
} from '@backstage/plugin-catalog';
import { VolumeManagerPage } from '@nkvm/backstage-plugin-volume-manager';
import { apis } from './apis';
import { entityPage } from './components/catalog/EntityPage';
import { Root } from './components/Root';

const app = createApp({
  apis,
  components: {
    // Guest sign-in for the demo (auth.providers.guest in app-config.yaml): the user presses
    // "Enter" and becomes user:default/guest.
    SignInPage: props => (
      <SignInPage
        {...props}
        providers={['guest']}
        title="nerdy-k8s-volume-manager demo"
        align="center"
      />
    ),
  },
});

const routes = (
  <FlatRoutes>
    <Route path="/" element={<Navigate to="catalog" />} />
    <Route path="/catalog" element={<CatalogIndexPage />} />
    <Route
      path="/catalog/:namespace/:kind/:name"
      element={<CatalogEntityPage />}
    >
      {entityPage}
    </Route>
    <Route path="/volume-manager" element={<VolumeManagerPage />} />
  </FlatRoutes>
);

/** The demo portal: the catalog, the entity Volumes tab and the volume-manager admin page. */
export const App = app.createRoot(
  <>
    <AlertDisplay />
    <OAuthRequestDialog />
    <AppRouter>
      <Root>{routes}</Root>
    </AppRouter>
  </>,
);
