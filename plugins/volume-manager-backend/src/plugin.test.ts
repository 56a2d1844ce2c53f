import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import request from 'supertest';
import { volumeManagerPlugin } from './plugin';
import { createTestDatabases } from './__testUtils__/testDatabases';

const databases = createTestDatabases();

describe('volumeManagerPlugin', () => {
  it.each(databases.eachSupportedId())(
    'starts, migrates and serves /health without credentials on %p',
    async id => {
      const knex = await databases.init(id);
      const { server } = await startTestBackend({
        features: [volumeManagerPlugin, mockServices.database.factory({ knex })],
      });

      await request(server)
        .get('/api/volume-manager/health')
        .set('Authorization', mockCredentials.none.header())
        .expect(200, { status: 'ok' });

      expect(await knex.schema.hasTable('backup_item')).toBe(true);
      expect(await knex.schema.hasTable('backup_run')).toBe(true);
    },
  );

  it('answers 401 in the standard error body for every other route without credentials', async () => {
    const knex = await databases.init('SQLITE_3');
    const { server } = await startTestBackend({
      features: [volumeManagerPlugin, mockServices.database.factory({ knex })],
    });
    for (const [method, path] of [
      ['get', '/api/volume-manager/clusters'],
      ['get', '/api/volume-manager/volumes'],
      ['get', '/api/volume-manager/backups'],
      ['post', '/api/volume-manager/backups'],
      ['get', '/api/volume-manager/destinations'],
    ] as const) {
      const res = await request(server)
        [method](path)
        .set('Authorization', mockCredentials.none.header());
      expect(res.status).toBe(401);
      expect(res.body.error).toEqual(
        expect.objectContaining({ name: 'AuthenticationError' }),
      );
      expect(res.body.response).toEqual({ statusCode: 401 });
    }
  });

  it('skips migrations when the database service says so', async () => {
    const knex = await databases.init('SQLITE_3');
    const database = mockServices.database.mock({
      getClient: async () => knex,
      migrations: { skip: true },
    });
    await startTestBackend({
      features: [volumeManagerPlugin, database.factory],
    });
    expect(await knex.schema.hasTable('backup_item')).toBe(false);
  });

  it('registers its permissions', async () => {
    const knex = await databases.init('SQLITE_3');
    const permissionsRegistry = mockServices.permissionsRegistry.mock();
    await startTestBackend({
      features: [
        volumeManagerPlugin,
        mockServices.database.factory({ knex }),
        permissionsRegistry.factory,
      ],
    });
    const names = permissionsRegistry.addPermissions.mock.calls
      .flatMap(([permissions]) => permissions)
      .map(p => p.name);
    expect(names).toEqual([
      'volume-manager.volume.read',
      'volume-manager.backup.create',
      'volume-manager.backup.read',
      'volume-manager.archive.download',
      'volume-manager.cluster.session.create',
      'volume-manager.destination.adhoc',
      'volume-manager.restore.create',
      'volume-manager.restore.inPlace',
    ]);
  });
});
