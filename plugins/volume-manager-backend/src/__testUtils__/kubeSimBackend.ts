import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { BackendFeature, ServiceFactory } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import type { BackupRun } from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import request from 'supertest';
import { volumeManagerPlugin } from '../plugin';
import { demoCatalogEntities } from './demoCatalog';

/** A kubeconfig file whose only cluster `name` is at `server` (TLS not verified). */
export function kubeconfigFileFor(name: string, server: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `nkvm-${name}-`));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: ${name}, cluster: { server: "${server}", insecure-skip-tls-verify: true } }]`,
      'users: [{ name: u, user: { token: t } }]',
      `contexts: [{ name: ${name}, context: { cluster: ${name}, user: u } }]`,
      `current-context: ${name}`,
    ].join('\n'),
  );
  return file;
}

/** A kubeconfig whose only cluster never answers (nothing listens on port 1). */
export function downClusterKubeconfig(): string {
  return kubeconfigFileFor('down', 'https://127.0.0.1:1');
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
  /** Replaces `permission` with a policy of its own. */
  permissions?: ServiceFactory;
  /** Replaces the demo catalog. */
  entities?: Entity[];
  extraFeatures?: BackendFeature[];
}) {
  return startTestBackend({
    features: [
      volumeManagerPlugin,
      mockServices.database.factory({ knex: options.knex }),
      mockServices.rootConfig.factory({ data: options.config }),
      options.permissions ?? permissionsFactory(options.permission ?? AuthorizeResult.ALLOW),
      catalogServiceMock.factory({ entities: options.entities ?? demoCatalogEntities() }),
      ...(options.extraFeatures ?? []),
    ],
  });
}

/** Polls `GET /backups/:runId` with `authorization` until none of its items is queued or running. */
export async function finishedRun(
  server: Parameters<typeof request>[0],
  runId: string,
  authorization: string,
): Promise<BackupRun> {
  for (;;) {
    const res = await request(server).get(`/api/volume-manager/backups/${runId}`).set('Authorization', authorization);
    if (res.status !== 200) throw new Error(`GET /backups/${runId} answered ${res.status}: ${JSON.stringify(res.body)}`);
    if (res.body.items.every((i: { status: string }) => !['queued', 'running'].includes(i.status))) return res.body;
    await new Promise(r => setTimeout(r, 100));
  }
}
