/*
 * The rsync sink writes the private key, the password and an askpass script into a 0700
 * control directory and removes it when the upload ends. A backend killed mid-upload leaves
 * them behind: the start-up sweep removes those, and only those.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sweepOrphanedControlDirs } from './RsyncArchiveSink';

function controlDir(tmp: string, name: string, mtime?: Date) {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(path.join(dir, 'id'), '-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n', { mode: 0o600 });
  writeFileSync(path.join(dir, 'secret'), 'hunter2', { mode: 0o600 });
  writeFileSync(path.join(dir, 'askpass'), '#!/bin/sh\nexec cat secret\n', { mode: 0o700 });
  if (mtime) utimesSync(dir, mtime, mtime);
  return dir;
}

describe('sweepOrphanedControlDirs', () => {
  it('removes the key and askpass files of dead processes and of an earlier life of this pid', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'nkvm-sweep-'));
    const deadPid = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    const startedAt = Date.now() - 60_000;
    const dead = controlDir(tmp, `nkvm-rsync-${deadPid}-Ab12Cd`);
    const earlierLife = controlDir(tmp, `nkvm-rsync-${process.pid}-Ef34Gh`, new Date(startedAt - 3_600_000));
    const ours = controlDir(tmp, `nkvm-rsync-${process.pid}-Ij56Kl`);
    const otherLive = controlDir(tmp, `nkvm-rsync-${process.ppid}-Mn78Op`);
    const oldUnnamed = controlDir(tmp, 'nkvm-rsync-Qr90St', new Date(Date.now() - 2 * 86_400_000));
    const unrelated = controlDir(tmp, 'something-else', new Date(0));

    const removed = await sweepOrphanedControlDirs(tmp, { startedAt });

    expect(removed.sort()).toEqual([dead, earlierLife, oldUnnamed].sort());
    for (const dir of [dead, earlierLife, oldUnnamed]) expect(existsSync(dir)).toBe(false);
    for (const dir of [ours, otherLive, unrelated]) expect(existsSync(path.join(dir, 'id'))).toBe(true);
  });
});
