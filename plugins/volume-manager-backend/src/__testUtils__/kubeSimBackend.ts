import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { BackendFeature } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';
import { volumeManagerPlugin } from '../plugin';
import { demoCatalogEntities } from './demoCatalog';

/** A kubeconfig whose only cluster never answers (nothing listens on port 1). */
export function downClusterKubeconfig(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-down-'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: down, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }]',
      'users: [{ name: u, user: { token: t } }]',
      'contexts: [{ name: down, context: { cluster: down, user: u } }]',
      'current-context: down',
    ].join('\n'),
  );
  return file;
}

type Decision = AuthorizeResult.ALLOW | AuthorizeResult.DENY;

function permissionsFactory(permission: Decision | ((name: string) => Decision)) {
  if (typeof permission !== 'function') return mockServices.permissions.factory({ result: permission });
  const decide = async (requests: Array<{ permission: { name: string } }>) =>
    requests.map(r => ({ result: permission(r.permission.name) }));
  return mockServices.permissions.mock({
    authorize: decide as never,
    authorizeConditional: decide as never,
  }).factory;
}

/** Starts the plugin in a test backend with the demo catalog and the given config. */
export async function startPluginBackend(options: {
  knex: Knex;
  config: object;
  /** One decision for every permission, or one per permission name. */
  permission?: Decision | ((name: string) => Decision);
  extraFeatures?: BackendFeature[];
}) {
  return startTestBackend({
    features: [
      volumeManagerPlugin,
      mockServices.database.factory({ knex: options.knex }),
      mockServices.rootConfig.factory({ data: options.config }),
      permissionsFactory(options.permission ?? AuthorizeResult.ALLOW),
      catalogServiceMock.factory({ entities: demoCatalogEntities() }),
      ...(options.extraFeatures ?? []),
    ],
  });
}
