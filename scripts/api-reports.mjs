#!/usr/bin/env node
// API reports (`report.api.md`, `report-alpha.api.md`) for every published package, the way
// backstage/backstage and community-plugins make them with `backstage-repo-tools api-reports`.
//
//   npm run api-reports          regenerate the reports; commit the changed files
//   npm run api-reports:check    fail when a report differs from the code (run by `npm test`)
//
// repo-tools' own `--tsc` flag shells out to `yarn tsc`; this workspace uses npm, so this script
// emits the declarations itself (only the published packages' sources, into dist-types/) and
// then runs the extractor on them.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(repoRoot, 'package.json'));
const check = process.argv.includes('--ci');

/** Workspace packages that are published: not private and with a Backstage role. */
export function publishedPackageDirs(root = repoRoot) {
  const dirs = [];
  for (const parent of ['plugins', 'packages']) {
    const parentDir = join(root, parent);
    if (!existsSync(parentDir)) continue;
    for (const name of readdirSync(parentDir).sort()) {
      const pkgPath = join(parentDir, name, 'package.json');
      if (!existsSync(pkgPath)) continue;
      const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
      if (!pkg.private && pkg.backstage?.role) dirs.push(`${parent}/${name}`);
    }
  }
  return dirs;
}

function run(cmd, args, what) {
  const res = spawnSync(cmd, args, { cwd: repoRoot, stdio: 'inherit' });
  if (res.status !== 0) {
    console.error(
      `[api-reports] ${what} failed (exit ${res.status ?? res.signal})`,
    );
    if (check && what.startsWith('API extraction')) {
      console.error(
        '[api-reports] The public API no longer matches the committed report.api.md files.\n' +
          '[api-reports] Run `npm run api-reports` and commit the changed reports.',
      );
    }
    process.exit(res.status ?? 1);
  }
}

function main() {
  const packageDirs = publishedPackageDirs();
  if (packageDirs.length === 0) throw new Error('no published packages found');
  console.log(
    `[api-reports] ${check ? 'checking' : 'generating'}: ${packageDirs.join(
      ', ',
    )}`,
  );

  // 1. Declarations of the published packages only, so a type error elsewhere (bench, e2e)
  //    does not block the reports. The asset types let frontend code import images.
  const tsconfigPath = join(repoRoot, 'tsconfig.api-reports.tmp.json');
  let assetTypes = [];
  try {
    assetTypes = [
      relative(
        repoRoot,
        require.resolve('@backstage/cli/asset-types/asset-types.d.ts'),
      ),
    ];
  } catch {
    // older CLIs ship no asset types
  }
  writeFileSync(
    tsconfigPath,
    `${JSON.stringify(
      {
        extends: './tsconfig.json',
        include: [...assetTypes, ...packageDirs.map(dir => `${dir}/src`)],
        exclude: [],
      },
      null,
      2,
    )}\n`,
  );
  try {
    rmSync(join(repoRoot, 'dist-types'), { recursive: true, force: true });
    run(
      process.execPath,
      [
        require.resolve('typescript/bin/tsc'),
        '--project',
        tsconfigPath,
        '--incremental',
        'false',
      ],
      'tsc (declarations into dist-types/)',
    );
  } finally {
    rmSync(tsconfigPath, { force: true });
  }

  // 2. The extractor, with the options community-plugins' workspaces use.
  run(
    process.execPath,
    [
      require.resolve('@backstage/repo-tools/bin/backstage-repo-tools'),
      'api-reports',
      '--omit-messages',
      'ae-wrong-input-file-type,ae-undocumented',
      '--validate-release-tags',
      ...(check ? ['--ci'] : []),
      ...packageDirs,
    ],
    `API extraction${check ? ' (check)' : ''}`,
  );
  console.log(
    `[api-reports] ${check ? 'all reports match the code' : 'reports written'}`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main();
}
