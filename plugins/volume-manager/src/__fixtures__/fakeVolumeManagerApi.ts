import { ResponseError } from '@backstage/errors';
import type { Entity } from '@backstage/catalog-model';
import type {
  BackupItem,
  BackupRun,
  Restore,
  Volume,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerApi } from '../api';

/** A fake API whose every method rejects unless the test overrides it. */
export function createFakeVolumeManagerApi(
  overrides: Partial<VolumeManagerApi> = {},
): jest.Mocked<VolumeManagerApi> {
  const unexpected = (name: string) =>
    jest.fn(async () => {
      throw new Error(`unexpected call to ${name}`);
    });
  return {
    getHealth: unexpected('getHealth'),
    getClusters: unexpected('getClusters'),
    getVolumes: unexpected('getVolumes'),
    createBackup: unexpected('createBackup'),
    listBackups: unexpected('listBackups'),
    getBackupRun: unexpected('getBackupRun'),
    cancelBackupRun: unexpected('cancelBackupRun'),
    downloadArchive: unexpected('downloadArchive'),
    getDestinations: unexpected('getDestinations'),
    createClusterSession: unexpected('createClusterSession'),
    createRestore: unexpected('createRestore'),
    getRestore: unexpected('getRestore'),
    cancelRestore: unexpected('cancelRestore'),
    listRestores: unexpected('listRestores'),
    ...overrides,
  } as jest.Mocked<VolumeManagerApi>;
}

/** A Response-like object, so tests need no fetch polyfill. */
export function fakeResponse(
  status: number,
  body?: unknown,
  statusText = '',
): Response {
  const text = body === undefined ? '' : JSON.stringify(body);
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText,
    url: 'http://localhost:7007/api/volume-manager/test',
    headers: new Headers(
      body === undefined ? {} : { 'content-type': 'application/json' },
    ),
    text: async () => text,
    json: async () => JSON.parse(text),
    blob: async () => new Blob([text]),
  } as unknown as Response;
}

/** What Backstage's router answers for a route the plugin does not have: 404, empty body. */
export function routeMissingError(): Promise<ResponseError> {
  return ResponseError.fromResponse(fakeResponse(404, undefined, 'Not Found'));
}

/** What a route that exists answers when it throws: Backstage's error envelope. */
export function envelopeError(
  statusCode: number,
  name: string,
  message: string,
): Promise<ResponseError> {
  return ResponseError.fromResponse(
    fakeResponse(statusCode, {
      error: { name, message },
      request: { method: 'GET', url: '/volumes' },
      response: { statusCode },
    }),
  );
}

export const paymentsApiEntity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'payments-api',
    namespace: 'default',
    annotations: {
      'backstage.io/kubernetes-id': 'payments-api',
      'backstage.io/kubernetes-namespace': 'payments',
    },
  },
  spec: { type: 'service', lifecycle: 'production', owner: 'team-payments' },
};

export const uploadCacheVolume: Volume = {
  cluster: 'kube-sim',
  namespace: 'payments',
  name: 'payments-api-uploads',
  phase: 'Bound',
  capacity: { requested: '5Gi', actual: '8Gi' },
  storageClass: 'standard',
  accessModes: ['ReadWriteOnce'],
  volumeName: 'pv-0001',
  owner: { kind: 'Deployment', name: 'payments-api' },
  mounts: [{ pod: 'payments-api-7d9f-abcde', node: 'node-a', readOnly: false }],
  entityRef: 'component:default/payments-api',
  lastSuccessfulBackup: {
    runId: 'run-1',
    itemId: 'item-1',
    finishedAt: '2026-11-25T21:04:05.000Z',
    bytes: 1024,
    sha256: 'ab'.repeat(32),
    archiveUri: 'file:///backups/x.tar.gz',
  },
  lastStatus: 'succeeded',
};

export const dbVolume: Volume = {
  cluster: 'kube-sim',
  namespace: 'payments',
  name: 'data-payments-db-0',
  phase: 'Bound',
  capacity: { requested: '8Gi', actual: '8Gi' },
  storageClass: 'standard',
  accessModes: ['ReadWriteOnce'],
  volumeName: 'pv-0002',
  owner: { kind: 'StatefulSet', name: 'payments-db' },
  mounts: [{ pod: 'payments-db-0', node: 'node-b', readOnly: false }],
  entityRef: 'component:default/payments-api',
  lastSuccessfulBackup: null,
  lastStatus: null,
};

/** One backup item; override what the test needs. */
export function backupItem(overrides: Partial<BackupItem> = {}): BackupItem {
  return {
    id: 'item-1',
    runId: 'run-1',
    cluster: 'kube-sim',
    namespace: 'payments',
    pvc: 'payments-api-uploads',
    status: 'succeeded',
    bytes: 1024,
    sha256: 'ab'.repeat(32),
    archiveUri: 'file:///backups/kube-sim/payments/payments-api-uploads/payments-api-uploads-20261125T210405Z.tar.gz',
    error: null,
    helperPod: 'nkvm-backup-1',
    node: 'node-a',
    startedAt: '2026-11-25T21:04:00.000Z',
    finishedAt: '2026-11-25T21:04:05.000Z',
    requestedBy: 'user:default/guest',
    progress: null,
    ...overrides,
  };
}

/** A run; its items default to one succeeded item. */
export function backupRun(overrides: Partial<BackupRun> = {}): BackupRun {
  return {
    id: 'run-1',
    status: 'succeeded',
    cluster: 'kube-sim',
    destination: 'local',
    requestedBy: 'user:default/guest',
    createdAt: '2026-11-25T21:03:59.000Z',
    items: [backupItem()],
    ...overrides,
  };
}

/** A restore of {@link backupItem} into a new PVC; override what the test needs. */
export function restoreOf(overrides: Partial<Restore> = {}): Restore {
  return {
    id: '5e1c0a7b-0000-4000-8000-000000000001',
    phase: 'queued',
    itemId: 'item-1',
    source: {
      cluster: 'kube-sim',
      namespace: 'payments',
      pvc: 'payments-api-uploads',
      archiveUri: 'file:///backups/kube-sim/payments/payments-api-uploads/payments-api-uploads-20261125T210405Z.tar.gz',
      sha256: 'ab'.repeat(32),
      destination: 'local',
    },
    target: { type: 'newPvc', cluster: 'kube-sim', namespace: 'payments' },
    targetPvc: null,
    ownership: 'preserve',
    entityRef: null,
    requestedBy: 'user:default/guest',
    createdAt: '2026-11-26T08:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    bytesDone: 0,
    bytesTotal: null,
    entries: null,
    uncompressedBytes: null,
    checks: [],
    safetyBackupRunId: null,
    helperPod: null,
    error: null,
    ...overrides,
  };
}
