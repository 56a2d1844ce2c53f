import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { BackendFeature } from '@backstage/backend-plugin-api';
import type { BackupRun } from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import request from 'supertest';
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

/** Starts the plugin in a test backend with the demo catalog and the given config. */
export async function startPluginBackend(options: {
  knex: Knex;
  config: object;
  permission?: AuthorizeResult.ALLOW | AuthorizeResult.DENY;
  extraFeatures?: BackendFeature[];
}) {
  return startTestBackend({
    features: [
      volumeManagerPlugin,
      mockServices.database.factory({ knex: options.knex }),
      mockServices.rootConfig.factory({ data: options.config }),
      mockServices.permissions.factory({ result: options.permission ?? AuthorizeResult.ALLOW }),
      catalogServiceMock.factory({ entities: demoCatalogEntities() }),
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
