#!/usr/bin/env node
// Installs dependencies when node_modules is missing or older than package-lock.json, so that
// `npm start` and `npm test` work on a fresh clone. The stamp records the lockfile's hash and
// the Node version the native modules (better-sqlite3) were built for.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampPath = join(repoRoot, 'node_modules', '.nkvm-install-stamp');

function wantedStamp() {
  const lock = readFileSync(join(repoRoot, 'package-lock.json'));
  return `${createHash('sha256').update(lock).digest('hex')} node-${process.versions.modules}\n`;
}

export function ensureInstall() {
  const wanted = wantedStamp();
  const current = existsSync(stampPath) ? readFileSync(stampPath, 'utf8') : '';
  if (current === wanted) return;
  console.log(
    current
      ? '[nkvm] package-lock.json changed since the last install: running npm ci'
      : '[nkvm] dependencies are not installed: running npm ci (a few minutes on a fresh clone)',
  );
  const res = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (res.status !== 0) {
    console.error('[nkvm] npm ci failed; see the output above');
    process.exit(res.status ?? 1);
  }
  writeFileSync(stampPath, wanted);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureInstall();
}
