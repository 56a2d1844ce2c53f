#!/usr/bin/env node
// `npm test`: installs if needed, then runs every package's tests once (never in watch mode)
// against real SQLite and the local PostgreSQL. Extra arguments go to `backstage-cli repo test`,
// for example `npm test -- plugins/volume-manager-backend`. A full run then checks that the API
// reports and knip reports match the code.
import { spawn, spawnSync } from 'node:child_process';
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
child.on('exit', (code, signal) => {
  const testsCode = signal ? 1 : (code ?? 1);
  // The release conventions' checks, on a full run only (not `npm test -- <path>`): the API
  // reports and the knip reports must match the code (regenerate with `npm run api-reports`
  // and `npm run knip-reports`). They run even when a test failed, so one run shows both.
  const checksCode = process.argv.length > 2 ? 0 : runConventionChecks();
  process.exit(testsCode || checksCode);
});

function runConventionChecks() {
  let failed = 0;
  for (const script of ['api-reports:check', 'knip-reports:check']) {
    console.log(`[nkvm] npm run ${script}`);
    const res = spawnSync('npm', ['run', '--silent', script], { cwd: repoRoot, stdio: 'inherit' });
    if (res.status !== 0) {
      console.error(`[nkvm] ${script} failed`);
      failed = 1;
    }
  }
  return failed;
}
