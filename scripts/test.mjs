#!/usr/bin/env node
// `npm test`: installs if needed, then runs every package's tests once (never in watch mode)
// against real SQLite and the local PostgreSQL. Extra arguments go to `backstage-cli repo test`,
// for example `npm test -- plugins/volume-manager-backend`.
import { spawn } from 'node:child_process';
import { ensureInstall, repoRoot } from './ensure-install.mjs';
import { ensureSystemPrereqs } from './system-prereqs.mjs';

ensureSystemPrereqs('test');
ensureInstall();

const env = {
  ...process.env,
  CI: 'true',
  BACKSTAGE_TEST_DISABLE_DOCKER: '1',
  BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING:
    process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING ??
    'postgresql://postgres@127.0.0.1:5432',
};

const child = spawn(
  'npx',
  ['backstage-cli', 'repo', 'test', '--maxWorkers=2', ...process.argv.slice(2)],
  { cwd: repoRoot, env, stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
