import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { PolicyQueryUser } from '@backstage/plugin-permission-node';
import {
  adHocDestinationPermission,
  archiveDownloadPermission,
  backupCreatePermission,
  backupReadPermission,
  clusterSessionCreatePermission,
  restoreCreatePermission,
  restoreInPlacePermission,
  volumeReadPermission,
} from '@nkvm/backstage-plugin-volume-manager-common';
import { VolumeManagerDemoPolicy } from './permissionPolicy';

function user(...ownershipEntityRefs: string[]): PolicyQueryUser {
  return {
    identity: {
      type: 'user',
      userEntityRef: ownershipEntityRefs[0],
      ownershipEntityRefs,
    },
    info: { userEntityRef: ownershipEntityRefs[0], ownershipEntityRefs },
    token: 'token',
    credentials: {} as PolicyQueryUser['credentials'],
  };
}

describe('VolumeManagerDemoPolicy', () => {
  const policy = new VolumeManagerDemoPolicy();
  const alice = user('user:default/alice', 'group:default/team-payments');
  const carol = user('user:default/carol', 'group:default/admins');

  it('lets only admins paste kubeconfigs', async () => {
    await expect(
      policy.handle({ permission: clusterSessionCreatePermission }, alice),
    ).resolves.toEqual({ result: AuthorizeResult.DENY });
    await expect(
      policy.handle({ permission: clusterSessionCreatePermission }, carol),
    ).resolves.toEqual({ result: AuthorizeResult.ALLOW });
  });

  it('lets only admins back up to one-off destinations', async () => {
    await expect(
      policy.handle({ permission: adHocDestinationPermission }, alice),
    ).resolves.toEqual({ result: AuthorizeResult.DENY });
    await expect(
      policy.handle({ permission: adHocDestinationPermission }, user()),
    ).resolves.toEqual({ result: AuthorizeResult.DENY });
    await expect(
      policy.handle({ permission: adHocDestinationPermission }, carol),
    ).resolves.toEqual({ result: AuthorizeResult.ALLOW });
  });

  it('lets everyone read volumes and history', async () => {
    for (const permission of [volumeReadPermission, backupReadPermission]) {
      await expect(policy.handle({ permission }, alice)).resolves.toEqual({
        result: AuthorizeResult.ALLOW,
      });
    }
  });

  it('makes backups and downloads conditional on owning the entity', async () => {
    for (const permission of [backupCreatePermission, archiveDownloadPermission, restoreCreatePermission]) {
      const decision = await policy.handle({ permission }, alice);
      expect(decision).toEqual({
        result: AuthorizeResult.CONDITIONAL,
        pluginId: 'catalog',
        resourceType: 'catalog-entity',
        conditions: {
          rule: 'IS_ENTITY_OWNER',
          resourceType: 'catalog-entity',
          params: { claims: ['user:default/alice', 'group:default/team-payments'] },
        },
      });
    }
    await expect(policy.handle({ permission: backupCreatePermission }, carol)).resolves.toEqual({
      result: AuthorizeResult.ALLOW,
    });
  });

  it('lets only admins restore into a PVC that exists, whoever owns it', async () => {
    for (const who of [alice, user()]) {
      await expect(policy.handle({ permission: restoreInPlacePermission }, who)).resolves.toEqual({
        result: AuthorizeResult.DENY,
      });
    }
    await expect(policy.handle({ permission: restoreInPlacePermission }, carol)).resolves.toEqual({
      result: AuthorizeResult.ALLOW,
    });
    await expect(policy.handle({ permission: restoreCreatePermission }, carol)).resolves.toEqual({
      result: AuthorizeResult.ALLOW,
    });
  });

  it('leaves other plugins alone', async () => {
    const decision = await policy.handle(
      {
        permission: {
          type: 'basic',
          name: 'catalog.entity.create',
          attributes: { action: 'create' },
        },
      },
      alice,
    );
    expect(decision).toEqual({ result: AuthorizeResult.ALLOW });
  });
});
