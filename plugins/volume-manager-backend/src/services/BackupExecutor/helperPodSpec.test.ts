import { helperPodName, helperPodSpec, type HelperPodInput } from './helperPodSpec';

const base: HelperPodInput = {
  namespace: 'payments',
  pvc: 'data-payments-db-0',
  runId: '11111111-2222-4333-8444-555555555555',
  itemId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
  installationId: 'prod-eu-backstage',
  image: 'alpine:3.20',
  activeDeadlineSeconds: 600,
  defaultSecurityMode: 'root',
};

describe('helperPodSpec', () => {
  it('mounts the PVC read-only at /data, with labels, a deadline and no service-account token', () => {
    const pod = helperPodSpec(base);
    expect(pod.metadata?.name).toBe(helperPodName(base.itemId));
    expect(pod.metadata?.name).toMatch(/^[a-z0-9-]{1,63}$/);
    expect(pod.metadata?.labels).toEqual({
      'app.kubernetes.io/managed-by': 'nerdy-k8s-volume-manager',
      'volume-manager.nkvm.io/run-id': base.runId,
      'volume-manager.nkvm.io/item-id': base.itemId,
      'volume-manager.nkvm.io/installation-id': 'prod-eu-backstage',
    });
    expect(pod.spec?.restartPolicy).toBe('Never');
    expect(pod.spec?.activeDeadlineSeconds).toBe(600);
    expect(pod.spec?.automountServiceAccountToken).toBe(false);
    expect(pod.spec?.volumes).toEqual([
      { name: 'data', persistentVolumeClaim: { claimName: 'data-payments-db-0', readOnly: true } },
    ]);
    expect(pod.spec?.containers[0].volumeMounts).toEqual([{ name: 'data', mountPath: '/data', readOnly: true }]);
    expect(pod.spec?.nodeSelector).toBeUndefined();
    expect(pod.spec?.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it('pins to a node with nodeSelector (never nodeName) and copies tolerations', () => {
    const tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'storage', effect: 'NoSchedule' }];
    const pod = helperPodSpec({ ...base, hostname: 'node-storage', tolerations });
    expect(pod.spec?.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'node-storage' });
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.spec?.tolerations).toEqual(tolerations);
  });

  it('runs as root without any capability when the workload sets no identity', () => {
    const pod = helperPodSpec(base);
    expect(pod.spec?.securityContext).toEqual({
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec?.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('asks for root with DAC_READ_SEARCH only in a namespace opted in to reading everything', () => {
    const pod = helperPodSpec({ ...base, readAll: true, workloadSecurity: { runAsUser: 999, fsGroup: 999 } });
    expect(pod.spec?.securityContext).toEqual(expect.objectContaining({ runAsUser: 0, runAsNonRoot: false }));
    expect(pod.spec?.securityContext?.fsGroup).toBeUndefined();
    expect(pod.spec?.containers[0].securityContext?.capabilities).toEqual({ drop: ['ALL'], add: ['DAC_READ_SEARCH'] });
  });

  it('mirrors supplementalGroups, and picks a non-root uid for a runAsNonRoot workload without one', () => {
    const pod = helperPodSpec({ ...base, workloadSecurity: { runAsNonRoot: true, fsGroup: 2000, supplementalGroups: [3000, 3001] } });
    expect(pod.spec?.securityContext).toEqual({
      runAsUser: 65534,
      runAsGroup: 65534,
      runAsNonRoot: true,
      fsGroup: 2000,
      fsGroupChangePolicy: 'OnRootMismatch',
      supplementalGroups: [3000, 3001],
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec?.containers[0].securityContext?.capabilities).toEqual({ drop: ['ALL'] });
  });

  it("mirrors the workload's runAsUser, runAsGroup and fsGroup without chowning", () => {
    const pod = helperPodSpec({ ...base, workloadSecurity: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 } });
    expect(pod.spec?.securityContext).toEqual({
      runAsUser: 999,
      runAsGroup: 999,
      fsGroup: 999,
      fsGroupChangePolicy: 'OnRootMismatch',
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.spec?.containers[0].securityContext?.capabilities).toEqual({ drop: ['ALL'] });
  });

  it('runs as 65534 in nonroot mode', () => {
    const pod = helperPodSpec({ ...base, defaultSecurityMode: 'nonroot' });
    expect(pod.spec?.securityContext).toEqual(expect.objectContaining({ runAsUser: 65534, runAsNonRoot: true }));
  });
});
