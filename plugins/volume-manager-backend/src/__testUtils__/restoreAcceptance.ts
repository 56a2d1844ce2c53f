/*
 * Helpers of the restore acceptance tests (issue #14): the API calls they repeat, a PV tree with
 * every feature a restore must give back, a workload scale-down as the controllers would do it
 * (kube-sim runs none), and file changes to undo.
 */
import { chmodSync, chownSync, lchownSync, linkSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync, readdirSync, lstatSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { BackupItem, Restore, Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import request from 'supertest';
import { finishedRun } from './kubeSimBackend';
import type { simAdmin } from './restoreHarness';

type Server = Parameters<typeof request>[0];
export const TERMINAL = ['succeeded', 'failed', 'canceled', 'interrupted'];

export function restoreApi(server: Server, user: string) {
  const base = '/api/volume-manager';
  return {
    post: (body: object) => request(server).post(`${base}/restores`).set('Authorization', user).send(body),
    get: (id: string) => request(server).get(`${base}/restores/${id}`).set('Authorization', user),
    cancel: (id: string) => request(server).post(`${base}/restores/${id}/cancel`).set('Authorization', user),
    async volumes(cluster: string): Promise<Volume[]> {
      const res = await request(server).get(`${base}/volumes?cluster=${cluster}`).set('Authorization', user);
      if (res.status !== 200) throw new Error(`GET /volumes: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.items;
    },
    /** Backs up the PVCs in one run and returns its items (all must succeed). */
    async backup(cluster: string, volumes: Array<{ namespace: string; name: string }>, destination = 'local'): Promise<BackupItem[]> {
      const res = await request(server).post(`${base}/backups`).set('Authorization', user).send({ cluster, volumes, destination });
      if (res.status !== 202) throw new Error(`POST /backups: ${res.status} ${JSON.stringify(res.body)}`);
      const run = await finishedRun(server, res.body.id, user);
      const bad = run.items.filter(i => i.status !== 'succeeded');
      if (bad.length > 0) throw new Error(`backups failed: ${JSON.stringify(bad.map(i => [i.pvc, i.status, i.error]))}`);
      return run.items;
    },
    /** Polls GET /restores/:id until the restore ends. */
    async finished(id: string, timeoutMs = 120_000): Promise<Restore> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await request(server).get(`${base}/restores/${id}`).set('Authorization', user);
        if (res.status !== 200) throw new Error(`GET /restores/${id}: ${res.status} ${JSON.stringify(res.body)}`);
        if (TERMINAL.includes(res.body.phase)) return res.body;
        if (Date.now() > deadline) throw new Error(`restore ${id} did not end: ${JSON.stringify(res.body)}`);
        await new Promise(r => setTimeout(r, 150));
      }
    },
  };
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

/**
 * Scales the workload that owns `volume` to nothing, the way its controller would: Deployments
 * and StatefulSets to 0 replicas, a DaemonSet onto no node, a CronJob suspended; then deletes
 * the pods that mount the PVC (kube-sim runs no controllers) and waits until they are gone.
 */
export async function scaleDown(admin: ReturnType<typeof simAdmin>, volume: Volume): Promise<void> {
  const ns = volume.namespace;
  const owner = volume.owner;
  const patch = async (p: string, body: object) => {
    const res = await admin.call('PATCH', p, body, 'application/merge-patch+json');
    if (res.status !== 200) throw new Error(`PATCH ${p}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  if (owner?.kind === 'Deployment') await patch(`/apis/apps/v1/namespaces/${ns}/deployments/${owner.name}`, { spec: { replicas: 0 } });
  if (owner?.kind === 'StatefulSet') await patch(`/apis/apps/v1/namespaces/${ns}/statefulsets/${owner.name}`, { spec: { replicas: 0 } });
  if (owner?.kind === 'DaemonSet') {
    await patch(`/apis/apps/v1/namespaces/${ns}/daemonsets/${owner.name}`, {
      spec: { template: { spec: { nodeSelector: { 'nkvm.test/no-node': 'true' } } } },
    });
  }
  if (owner?.kind === 'CronJob') await patch(`/apis/batch/v1/namespaces/${ns}/cronjobs/${owner.name}`, { spec: { suspend: true } });
  for (const m of volume.mounts) {
    await admin.call('DELETE', `/api/v1/namespaces/${ns}/pods/${m.pod}?gracePeriodSeconds=0`);
  }
  await until(`the pods of ${ns}/${volume.name} to go`, async () => {
    for (const m of volume.mounts) {
      const res = await admin.call('GET', `/api/v1/namespaces/${ns}/pods/${m.pod}`);
      if (res.status !== 404) return undefined;
    }
    return true;
  });
}

/**
 * Adds to a PV directory every feature a restore must give back: numeric owners nobody has on
 * this machine, odd modes, hard links, relative and absolute (dangling) symlinks, empty
 * directories, names with newlines, spaces, quotes, a leading dash, tabs and non-ASCII characters.
 */
export function plantFeatureTree(dir: string): void {
  const root = path.join(dir, 'acceptance');
  mkdirSync(path.join(root, 'empty', 'nested-empty'), { recursive: true });
  mkdirSync(path.join(root, 'private'), { recursive: true });
  const file = (p: string, content: Buffer | string, mode: number, uid: number, gid: number) => {
    writeFileSync(path.join(root, p), content);
    chownSync(path.join(root, p), uid, gid);
    chmodSync(path.join(root, p), mode);
  };
  file('private/key.pem', randomBytes(3000), 0o600, 70001, 70002);
  file('script.sh', '#!/bin/sh\necho hi\n', 0o751, 0, 33);
  file('group-writable', randomBytes(100), 0o664, 1234, 5678);
  file('empty-file', '', 0o444, 42, 43);
  file('odd\nnew line', 'newline in the name\n', 0o640, 1000, 1000);
  file("-dash 'quote' \"dq\" $x `tick`", 'shell metacharacters\n', 0o644, 1000, 1000);
  // (no non-UTF-8 name: kube-sim's compareTrees walks string paths and cannot read one back)
  file('tab\tand ünïcödé ☃.txt', 'unicode\n', 0o644, 0, 0);
  linkSync(path.join(root, 'private/key.pem'), path.join(root, 'hardlink-to-key'));
  linkSync(path.join(root, 'private/key.pem'), path.join(root, 'empty', 'second-hardlink'));
  symlinkSync('private/key.pem', path.join(root, 'relative-link'));
  symlinkSync('../acceptance/private/../script.sh', path.join(root, 'dotdot-inside-link'));
  symlinkSync('empty', path.join(root, 'dir-link'));
  chownSync(path.join(root, 'private'), 70001, 70002);
  chmodSync(path.join(root, 'private'), 0o700);
  chmodSync(path.join(root, 'empty', 'nested-empty'), 0o1777);
  // a symlink's own owner (the tests run as root)
  lchownSync(path.join(root, 'relative-link'), 4321, 4322);
}

/** Changes, adds and deletes files, as a workload would after the backup. Returns what it did. */
export function mutateTree(dir: string): string[] {
  const done: string[] = [];
  // Buffer paths: names need not be UTF-8.
  const files: Buffer[] = [];
  const walk = (d: Buffer) => {
    for (const e of readdirSync(d, { encoding: 'buffer' })) {
      const p = Buffer.concat([d, Buffer.from('/'), e]);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) files.push(p);
    }
  };
  walk(Buffer.from(dir));
  files.sort(Buffer.compare);
  if (files.length === 0) throw new Error(`no file to change in ${dir}`);
  writeFileSync(files[0], 'changed after the backup\n');
  done.push(`changed ${files[0].toString('latin1')}`);
  if (files.length > 1) {
    unlinkSync(files[files.length - 1]);
    done.push(`deleted ${files[files.length - 1].toString('latin1')}`);
  }
  writeFileSync(path.join(dir, 'added-after-backup'), 'must be gone after a replace\n');
  mkdirSync(path.join(dir, 'added-dir'), { recursive: true });
  done.push('added added-after-backup, added-dir');
  const acceptance = path.join(dir, 'acceptance');
  try {
    rmSync(path.join(acceptance, 'empty'), { recursive: true });
    chmodSync(path.join(acceptance, 'script.sh'), 0o600);
    chownSync(path.join(acceptance, 'group-writable'), 1, 1);
    done.push('acceptance: removed empty/, chmod, chown');
  } catch {
    // only the planted PVC has it
  }
  return done;
}
