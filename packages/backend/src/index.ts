/*
 * The demo portal backend: catalog, guest sign-in, the permission framework with a real
 * ownership policy, the volume-manager plugin, and app-backend serving the built frontend.
 */
import { createBackend } from '@backstage/backend-defaults';
import { demoPermissionPolicyModule } from './permissionPolicyModule';
import { applyMetadataDbPath } from './metadataDbPath';

applyMetadataDbPath(process.env);

const backend = createBackend();

backend.add(import('@backstage/plugin-app-backend'));
backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@backstage/plugin-permission-backend'));
backend.add(demoPermissionPolicyModule);
backend.add(import('@nkvm/backstage-plugin-volume-manager-backend'));

backend.start();
