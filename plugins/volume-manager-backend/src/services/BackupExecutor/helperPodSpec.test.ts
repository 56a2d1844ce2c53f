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
    expect(pod.metadata?.name).toBe(helperPodName(base.itemId!));
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

  describe('write mode (restore)', () => {
    const restore = { restoreId: 'cccccccc-dddd-4eee-8fff-000000000000', ownership: 'preserve' as const };
    const { runId: _run, itemId: _item, ...common } = base;

    it('mounts the PVC read-write, labelled with the restore id, with the same hardening', () => {
      const pod = helperPodSpec({ ...common, restore });
      expect(pod.metadata?.name).toBe('nkvm-restore-ccccccccdddd');
      expect(pod.metadata?.labels).toEqual({
        'app.kubernetes.io/managed-by': 'nerdy-k8s-volume-manager',
        'volume-manager.nkvm.io/restore-id': restore.restoreId,
        'volume-manager.nkvm.io/installation-id': 'prod-eu-backstage',
      });
      expect(pod.spec?.volumes).toEqual([{ name: 'data', persistentVolumeClaim: { claimName: 'data-payments-db-0', readOnly: false } }]);
      expect(pod.spec?.containers[0].volumeMounts).toEqual([{ name: 'data', mountPath: '/data', readOnly: false }]);
      expect(pod.spec?.automountServiceAccountToken).toBe(false);
      expect(pod.spec?.activeDeadlineSeconds).toBe(600);
      expect(pod.spec?.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
      expect(pod.spec?.containers[0].securityContext).toEqual(
        expect.objectContaining({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true }),
      );
    });

    it('preserve: root with only CHOWN, FOWNER, DAC_OVERRIDE and FSETID, whatever the workload or readAll says', () => {
      const pod = helperPodSpec({ ...common, restore, readAll: true, workloadSecurity: { runAsUser: 999, fsGroup: 999 } });
      expect(pod.spec?.securityContext).toEqual({
        runAsUser: 0,
        runAsGroup: 0,
        runAsNonRoot: false,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.spec?.containers[0].securityContext?.capabilities).toEqual({
        drop: ['ALL'],
        add: ['CHOWN', 'FOWNER', 'DAC_OVERRIDE', 'FSETID'],
      });
    });

    it("workload: the workload's identity and no capabilities, never DAC_READ_SEARCH", () => {
      const pod = helperPodSpec({
        ...common,
        restore: { ...restore, ownership: 'workload' },
        readAll: true,
        workloadSecurity: { runAsUser: 999, runAsGroup: 998, fsGroup: 997 },
      });
      expect(pod.spec?.securityContext).toEqual(expect.objectContaining({ runAsUser: 999, runAsGroup: 998, fsGroup: 997, runAsNonRoot: true }));
      expect(pod.spec?.containers[0].securityContext?.capabilities).toEqual({ drop: ['ALL'] });
    });

    it('refuses a backup helper without run and item ids', () => {
      expect(() => helperPodSpec(common)).toThrow(/run id and an item id/);
    });
  });
});
