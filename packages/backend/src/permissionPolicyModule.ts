import { createBackendModule } from '@backstage/backend-plugin-api';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import { VolumeManagerDemoPolicy } from './permissionPolicy';

/** Installs {@link VolumeManagerDemoPolicy} as the permission backend's policy. */
export const demoPermissionPolicyModule = createBackendModule({
  pluginId: 'permission',
  moduleId: 'volume-manager-demo-policy',
  register(reg) {
    reg.registerInit({
      deps: { policy: policyExtensionPoint },
      async init({ policy }) {
        policy.setPolicy(new VolumeManagerDemoPolicy());
      },
    });
  },
});
