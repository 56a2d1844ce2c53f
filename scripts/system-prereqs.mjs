#!/usr/bin/env node
// The system packages and services `npm start` and `npm test` need, in one place (.ci/run calls
// this too). Missing Debian packages are installed when we run as root where apt-get exists,
// saying so in one line; otherwise we stop before doing anything else and print the exact
// command to run. PostgreSQL (tests only) is started when it is installed but not answering.
//
//   node scripts/system-prereqs.mjs start|test
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What each command needs from Debian, and why. */
export const DEBIAN_PACKAGES = {
  start: [
    'bubblewrap', // kube-sim runs each exec (the helper pods' tar) in a bwrap sandbox
    'util-linux', // setpriv: the helper pods' uid, gid and capabilities
    'openssl', // kube-sim's CA and serving certificate
  ],
  test: [
    'bubblewrap',
    'util-linux',
    'openssl',
    'chromium', // the end-to-end tests (playwright-core drives /usr/bin/chromium)
    'gdb', // kube-sim's kubectl test that stalls kubectl's stream creation
    'vsftpd', // FTP and FTPS destination tests
    'openssh-server', // SCP (SFTP) and RSYNC destination tests
    'openssh-client',
    'rsync',
    'sshpass',
  ],
};

const log = line => console.log(`[nkvm] ${line}`);

function installed(pkg) {
  const res = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return res.status === 0 && res.stdout.includes('install ok installed');
}

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function fail(message) {
  console.error(`[nkvm] ${message}`);
  process.exit(1);
}

export function ensureDebianPackages(packages) {
  if (!have('dpkg-query')) {
    log(`not a Debian system: make sure these (or their equivalents) are installed: ${packages.join(' ')}`);
    return;
  }
  const missing = packages.filter(p => !installed(p));
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0 || !have('apt-get')) {
    fail(`missing Debian packages: ${missing.join(' ')}. Install them first:\n  sudo sh -c '${command}'`);
  }
  log(`installing missing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // apt's own chatter (debconf notes) stays out of the way unless something fails.
  const quiet = { stdio: ['ignore', 'ignore', 'pipe'], env, encoding: 'utf8' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const res = spawnSync('apt-get', args, quiet);
    if (res.status !== 0) fail(`apt-get ${args[0]} failed:\n${res.stderr}\nRun it yourself:\n  ${command}`);
  }
}

function postgresAnswers() {
  return spawnSync('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432'], { stdio: 'ignore' }).status === 0;
}

function ensurePostgres() {
  if (process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING) return; // the caller's own server
  if (have('pg_isready') && postgresAnswers()) return;
  const versions = existsSync('/etc/postgresql') ? readdirSync('/etc/postgresql').sort() : [];
  if (versions.length === 0 || !have('pg_ctlcluster')) {
    fail(
      'the tests need PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), or ' +
        'BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING pointing at one. On Debian:\n' +
        "  sudo apt-get install -y postgresql && sudo sed -i -E 's/^(host\\s+all\\s+all\\s+127\\.0\\.0\\.1\\/32\\s+)\\S+/\\1trust/' /etc/postgresql/*/main/pg_hba.conf && sudo pg_ctlcluster --skip-systemctl-redirect \"$(ls /etc/postgresql | head -n 1)\" main start",
    );
  }
  const version = versions[versions.length - 1];
  log(`starting PostgreSQL ${version}`);
  spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'inherit' });
  for (let i = 0; i < 30 && !postgresAnswers(); i++) spawnSync('sleep', ['1']);
  if (!postgresAnswers()) fail('PostgreSQL did not answer on 127.0.0.1:5432 within 30 s');
}

/** Checks (and where allowed, installs or starts) what `npm start` or `npm test` needs. */
export function ensureSystemPrereqs(purpose) {
  const packages = DEBIAN_PACKAGES[purpose];
  if (!packages) throw new Error(`unknown purpose '${purpose}' (start or test)`);
  ensureDebianPackages(packages);
  if (purpose === 'test') ensurePostgres();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureSystemPrereqs(process.argv[2] ?? 'test');
}
