import type { Fixture } from '@nkvm/kube-sim';

/**
 * One namespace with a large, incompressible PVC (so `tar -czf` takes seconds) and a small one
 * with restrictive files, for fault tests.
 */
export function faultFixture(bigBytes: number): Fixture {
  return {
    name: 'faults',
    nodes: [{ name: 'node-a' }],
    namespaces: [{ name: 'faults' }],
    persistentVolumeClaims: [
      {
        name: 'big',
        namespace: 'faults',
        accessModes: ['ReadWriteOnce'],
        size: '10Gi',
        files: { seed: 7, files: 4, totalBytes: bigBytes, compressibility: 0, depth: 1 },
      },
      {
        name: 'locked',
        namespace: 'faults',
        accessModes: ['ReadWriteOnce'],
        size: '1Gi',
        files: {
          seed: 8,
          files: 2,
          totalBytes: 4096,
          entries: [{ path: 'secret.key', content: 'top secret\n', mode: 0o600, uid: 70, gid: 70 }],
        },
      },
    ],
  };
}
