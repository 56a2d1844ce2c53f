/*
 * A volume-manager backend in its own process, so a test can kill it with SIGKILL mid-backup.
 * Usage: tsx backendProcess.ts <config.json>   (prints "backend ready <port>")
 * Auth, permissions and the catalog are Backstage's test mocks; the database is a SQLite file.
 */
import { readFileSync } from 'node:fs';
import { createBackend } from '@backstage/backend-defaults';
import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { volumeManagerPlugin } from '../plugin';
import { demoCatalogEntities } from './demoCatalog';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const backend = createBackend();
backend.add(mockServices.rootConfig.factory({ data: config }));
backend.add(mockServices.auth.factory());
backend.add(mockServices.httpAuth.factory());
backend.add(mockServices.permissions.factory({ result: AuthorizeResult.ALLOW }));
backend.add(catalogServiceMock.factory({ entities: demoCatalogEntities() }));
backend.add(volumeManagerPlugin);
backend.start().then(() => {
  process.stdout.write(`backend ready ${config.backend.listen.port}\n`);
});
