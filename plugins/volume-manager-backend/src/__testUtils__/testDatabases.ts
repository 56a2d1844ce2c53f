import { TestDatabases, type TestDatabaseId } from '@backstage/backend-test-utils';

const POSTGRES_ENV = 'BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING';

/**
 * Real SQLite and real PostgreSQL for store and migration tests. PostgreSQL never skips itself:
 * without a connection string the test file fails and says how to provide one (`npm test` and
 * `.ci/run` set it to the local server).
 */
export function createTestDatabases(): TestDatabases {
  if (!process.env[POSTGRES_ENV]) {
    throw new Error(
      `${POSTGRES_ENV} is not set. Run the tests with 'npm test' (it points this at ` +
        `postgresql://postgres@127.0.0.1:5432) or set it to a PostgreSQL server you can create databases on.`,
    );
  }
  return TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
    disableDocker: true,
  });
}

export type { TestDatabaseId };
