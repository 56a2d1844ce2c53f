/**
 * PodSecurity admission: the checks' texts and order (units), then the real kubectl 1.27/1.33
 * and @kubernetes/client-node against a sim whose namespaces carry pod-security labels. The
 * expected texts are the kube-apiserver 1.33 ones (k8s.io/pod-security-admission). The backend's
 * own helper pods are checked against this in the backend (helperPodSpec.podSecurity.kubeSim.test.ts).
 */
import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { evaluatePod, forbiddenDetail, policyFromLabels } from './podSecurity';
import { startKubeSim, type KubeSim } from './sim';
import { kubectl, KUBECTL_VERSIONS } from './__testutils__/kubectl';
import type { Fixture } from './fixtures/types';

jest.setTimeout(60_000);

const latest = (level: 'baseline' | 'restricted') => ({ level });
const detail = (level: 'baseline' | 'restricted', spec: object, meta: object = {}, minor?: number) => forbiddenDetail(evaluatePod({ level, minor }, meta, spec));

const RESTRICTED_BARE =
  'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ' +
  'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ' +
  'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ' +
  'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")';

const RESTRICTED_OK_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
const RESTRICTED_OK_POD = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };

describe('checks', () => {
  it('reports the restricted controls of a bare pod in the apiserver order', () => {
    expect(detail('restricted', { containers: [{ name: 'c', image: 'alpine' }] })).toBe(RESTRICTED_BARE);
    expect(evaluatePod(latest('baseline'), {}, { containers: [{ name: 'c', image: 'alpine' }] })).toEqual([]);
    expect(evaluatePod({ level: 'privileged' }, {}, { hostNetwork: true, containers: [{ name: 'c', securityContext: { privileged: true } }] })).toEqual([]);
  });

  it('reports baseline controls first, sorted by check id, and lets restricted checks supersede their baseline twins', () => {
    const spec = {
      hostNetwork: true,
      hostIPC: true,
      hostPID: true,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'Unconfined' }, sysctls: [{ name: 'kernel.msgmax', value: '1' }, { name: 'net.ipv4.tcp_rmem', value: '1 2 3' }] },
      volumes: [{ name: 'host', hostPath: { path: '/' } }, { name: 'nfs', nfs: { server: 'x', path: '/' } }, { name: 'data', persistentVolumeClaim: { claimName: 'd' } }],
      containers: [
        { name: 'a', ports: [{ containerPort: 80, hostPort: 8080 }], securityContext: { privileged: true, allowPrivilegeEscalation: false, capabilities: { add: ['NET_RAW', 'CHOWN'], drop: ['ALL'] }, procMount: 'Unmasked' } },
        { name: 'b', ports: [{ containerPort: 81, hostPort: 9090 }], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seLinuxOptions: { type: 'spc_t', user: 'root' } } },
      ],
    };
    expect(detail('baseline', spec)).toBe(
      'non-default capabilities (container "a" must not include "NET_RAW" in securityContext.capabilities.add), ' +
        'host namespaces (hostNetwork=true, hostPID=true, hostIPC=true), ' +
        'hostPath volumes (volume "host"), ' +
        'hostPort (containers "a", "b" use hostPorts 8080, 9090), ' +
        'privileged (container "a" must not set securityContext.privileged=true), ' +
        'procMount (container "a" must not set securityContext.procMount to "Unmasked"), ' +
        'seLinuxOptions (container "b" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set), ' +
        'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined"), ' +
        'forbidden sysctls (kernel.msgmax)',
    );
    expect(detail('restricted', spec)).toBe(
      'host namespaces (hostNetwork=true, hostPID=true, hostIPC=true), ' +
        'hostPort (containers "a", "b" use hostPorts 8080, 9090), ' +
        'privileged (container "a" must not set securityContext.privileged=true), ' +
        'procMount (container "a" must not set securityContext.procMount to "Unmasked"), ' +
        'seLinuxOptions (container "b" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set), ' +
        'forbidden sysctls (kernel.msgmax), ' +
        'unrestricted capabilities (container "a" must not include "CHOWN", "NET_RAW" in securityContext.capabilities.add), ' +
        'restricted volume types (volumes "host", "nfs" use restricted volume types "hostPath", "nfs"), ' +
        'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")',
    );
  });

  it('applies the checks of the pinned policy version', () => {
    const spec = { securityContext: { sysctls: [{ name: 'net.ipv4.tcp_rmem', value: '1' }] }, containers: [{ name: 'c', securityContext: { runAsUser: 0 } }] };
    expect(detail('baseline', spec, {}, 31)).toBe('forbidden sysctls (net.ipv4.tcp_rmem)');
    expect(detail('baseline', spec, {}, 32)).toBe('');
    // runAsUser=0 is a restricted control since policy 1.23; the capabilities one since 1.22
    expect(detail('restricted', { ...spec, securityContext: RESTRICTED_OK_POD, containers: [{ name: 'c', securityContext: { ...RESTRICTED_OK_CONTAINER, runAsUser: 0 } }] }, {}, 23)).toBe(
      'runAsUser=0 (container "c" must not set runAsUser=0)',
    );
    expect(detail('restricted', { securityContext: RESTRICTED_OK_POD, containers: [{ name: 'c', securityContext: { allowPrivilegeEscalation: false, runAsUser: 0 } }] }, {}, 21)).toBe('');
  });

  it('accepts what the standards allow', () => {
    const pod = {
      securityContext: { ...RESTRICTED_OK_POD, runAsUser: 1000, sysctls: [{ name: 'net.ipv4.ping_group_range', value: '0 1' }], seLinuxOptions: { type: 'container_t' } },
      volumes: [{ name: 'e', emptyDir: {} }, { name: 'p', projected: { sources: [] } }, { name: 'd', persistentVolumeClaim: { claimName: 'x' } }],
      initContainers: [{ name: 'i', securityContext: { ...RESTRICTED_OK_CONTAINER, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } }],
      containers: [{ name: 'c', ports: [{ containerPort: 80 }], securityContext: { ...RESTRICTED_OK_CONTAINER, procMount: 'Default', appArmorProfile: { type: 'RuntimeDefault' } } }],
    };
    expect(evaluatePod(latest('restricted'), {}, pod)).toEqual([]);
    expect(detail('baseline', { containers: [{ name: 'c', securityContext: { capabilities: { add: ['DAC_OVERRIDE', 'CHOWN'] } } }] })).toBe('');
  });

  it('names AppArmor and seccomp annotations and Windows host processes', () => {
    const meta = { annotations: { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined', 'seccomp.security.alpha.kubernetes.io/pod': 'unconfined' } };
    const spec = { securityContext: { windowsOptions: { hostProcess: true } }, containers: [{ name: 'c', securityContext: { appArmorProfile: { type: 'Unconfined' } } }] };
    expect(detail('baseline', spec, meta)).toBe(
      'forbidden AppArmor profiles (container "c" and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/c="unconfined""), ' +
        'hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)',
    );
    expect(detail('baseline', {}, meta, 18)).toContain('seccompProfile (forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined")');
  });

  it('parses the labels like PolicyToEvaluate', () => {
    expect(policyFromLabels({ 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.30', 'pod-security.kubernetes.io/warn': 'restricted' })).toEqual({
      policy: { enforce: { level: 'baseline', minor: 30 }, audit: { level: 'privileged' }, warn: { level: 'restricted' } },
      errors: [],
    });
    const bad = policyFromLabels({ 'pod-security.kubernetes.io/enforce': 'strict', 'pod-security.kubernetes.io/warn': 'nope', 'pod-security.kubernetes.io/audit-version': '1.30' });
    // enforce fails closed (restricted), warn/audit fail open (privileged), a bad version means latest
    expect(bad.policy).toEqual({ enforce: { level: 'restricted' }, audit: { level: 'privileged' }, warn: { level: 'privileged' } });
    expect(bad.errors.map(e => `${e.label}=${e.value}: ${e.message}`)).toEqual([
      'pod-security.kubernetes.io/enforce=strict: must be one of privileged, baseline, restricted',
      'pod-security.kubernetes.io/audit-version=1.30: must be "latest" or "v1.x"',
      'pod-security.kubernetes.io/warn=nope: must be one of privileged, baseline, restricted',
    ]);
  });
});

// ------------------------------------------------------------------------------------------------

const psa = (labels: Record<string, string>) => Object.fromEntries(Object.entries(labels).map(([k, v]) => [`pod-security.kubernetes.io/${k}`, v]));
const barePod = (name: string) => ({ kind: 'Pod' as const, name, namespace: '', podSpec: { containers: [{ name: 'app', image: 'alpine:3.20' }] } });

const FIXTURE: Fixture = {
  nodes: [{ name: 'node-a' }],
  namespaces: [
    { name: 'psa-baseline', labels: psa({ enforce: 'baseline' }) },
    { name: 'psa-restricted', labels: psa({ enforce: 'restricted' }) },
    { name: 'psa-pinned', labels: psa({ enforce: 'restricted', 'enforce-version': 'v1.30' }) },
    { name: 'psa-warn', labels: psa({ warn: 'restricted', audit: 'baseline' }) },
    { name: 'psa-exempt', labels: psa({ enforce: 'restricted' }) },
    { name: 'psa-broken', labels: psa({ enforce: 'strict', warn: 'loud' }) },
    ...KUBECTL_VERSIONS.map(v => ({ name: `psa-label-${v.replace('.', '-')}` })),
  ],
  workloads: KUBECTL_VERSIONS.flatMap(v => {
    const namespace = `psa-label-${v.replace('.', '-')}`;
    return ['old-a', 'old-b', 'old-c'].map(n => ({ ...barePod(n), namespace }));
  }),
  podSecurityExemptions: { namespaces: ['psa-exempt'], usernames: ['system:serviceaccount:ops:exempt'], runtimeClasses: ['kata'] },
};

let sim: KubeSim;

beforeAll(async () => {
  sim = await startKubeSim({ fixture: FIXTURE, generateFiles: false });
});

afterAll(async () => {
  await sim?.stop();
});

/**
 * A reader pod like a backup helper: root with only DAC_READ_SEARCH, or (`uid`) the workload's
 * non-root identity; both drop ALL, forbid privilege escalation and use the runtime's seccomp.
 */
function reader(name: string, namespace: string, uid?: number): V1Pod {
  const identity = uid === undefined ? { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false } : { runAsUser: uid, runAsGroup: uid, fsGroup: uid, runAsNonRoot: true };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { ...identity, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'backup',
          image: 'alpine:3.20',
          command: ['sleep', '600'],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], ...(uid === undefined && { add: ['DAC_READ_SEARCH'] }) } },
          volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } }],
    },
  };
}

const BARE_POD = (name: string, namespace: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'c', image: 'alpine:3.20' }] } });

describe.each(KUBECTL_VERSIONS)('kubectl %s', version => {
  const k = (args: string[], input?: string) => kubectl(args, { kubeconfigPath: sim.kubeconfigPath, version, input });
  const suffix = version.replace('.', '-');

  it('enforce=restricted rejects a bare pod with the apiserver message', async () => {
    const r = await k(['apply', '-f', '-'], BARE_POD(`bare-${suffix}`, 'psa-restricted'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`Error from server (Forbidden): error when creating "STDIN": pods "bare-${suffix}" is forbidden: violates PodSecurity "restricted:latest": ${RESTRICTED_BARE}`);
    expect(sim.getObject('v1', 'Pod', 'psa-restricted', `bare-${suffix}`)).toBeUndefined();
  });

  it('enforce=baseline rejects a root reader that adds DAC_READ_SEARCH', async () => {
    const r = await k(['apply', '-f', '-'], JSON.stringify(reader(`root-${suffix}`, 'psa-baseline')));
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `Error from server (Forbidden): error when creating "STDIN": pods "root-${suffix}" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities (container "backup" must not include "DAC_READ_SEARCH" in securityContext.capabilities.add)`,
    );
    expect(sim.getObject('v1', 'Pod', 'psa-baseline', `root-${suffix}`)).toBeUndefined();
  });

  it("enforce=restricted admits a reader running as the workload's user", async () => {
    const r = await k(['apply', '-f', '-'], JSON.stringify(reader(`nonroot-${suffix}`, 'psa-restricted', 999)));
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`pod/nonroot-${suffix} created`);
    expect(sim.getObject('v1', 'Pod', 'psa-restricted', `nonroot-${suffix}`)).toBeDefined();
  });

  it('reports the pinned policy version', async () => {
    const r = await k(['run', `pinned-${suffix}`, '-n', 'psa-pinned', '--image=alpine:3.20']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`Error from server (Forbidden): pods "pinned-${suffix}" is forbidden: violates PodSecurity "restricted:v1.30": ${RESTRICTED_BARE.replace(/"c"/g, `"pinned-${suffix}"`)}`);
  });

  it('warn prints a Warning and admits; audit is recorded in the request log', async () => {
    const r = await k(['run', `warned-${suffix}`, '-n', 'psa-warn', '--image=alpine:3.20', '--privileged']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`pod/warned-${suffix} created`);
    const c = `"warned-${suffix}"`;
    expect(r.stderr.trim()).toBe(
      `Warning: would violate PodSecurity "restricted:latest": privileged (container ${c} must not set securityContext.privileged=true), ` +
        `allowPrivilegeEscalation != false (container ${c} must set securityContext.allowPrivilegeEscalation=false), ` +
        `unrestricted capabilities (container ${c} must set securityContext.capabilities.drop=["ALL"]), ` +
        `runAsNonRoot != true (pod or container ${c} must set securityContext.runAsNonRoot=true), ` +
        `seccompProfile (pod or container ${c} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`,
    );
    const entry = sim.requestLog.find(e => e.method === 'POST' && e.url.startsWith('/api/v1/namespaces/psa-warn/pods') && e.status === 201 && e.annotations?.['pod-security.kubernetes.io/audit-violations']?.includes(c));
    expect(entry?.annotations).toEqual({
      'pod-security.kubernetes.io/enforce-policy': 'privileged:latest',
      'pod-security.kubernetes.io/audit-violations': `would violate PodSecurity "baseline:latest": privileged (container ${c} must not set securityContext.privileged=true)`,
    });
  });

  it('warn also evaluates the pod template of a new Deployment', async () => {
    // apply (JSON); `kubectl create deployment` 1.33 sends protobuf bodies, which kube-sim does not decode
    const deployment = (namespace: string) =>
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `web-${suffix}`, namespace },
        spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'alpine:3.20' }] } } },
      });
    const r = await k(['apply', '-f', '-'], deployment('psa-warn'));
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`deployment.apps/web-${suffix} created`);
    expect(r.stderr.trim()).toBe(`Warning: would violate PodSecurity "restricted:latest": ${RESTRICTED_BARE.replace(/"c"/g, '"web"')}`);
    const enforced = await k(['apply', '-f', '-'], deployment('psa-restricted'));
    expect(enforced.stderr).toBe(''); // enforce does not apply to workloads, only to their pods
    expect(enforced.code).toBe(0);
  });

  it('exempt namespaces admit anything', async () => {
    const started = Date.now();
    const r = await k(['apply', '-f', '-'], BARE_POD(`free-${suffix}`, 'psa-exempt'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const entry = sim.requestLog.find(e => e.method === 'POST' && e.url.startsWith('/api/v1/namespaces/psa-exempt/pods') && e.status === 201 && e.at >= started);
    expect(entry?.annotations).toEqual({ 'pod-security.kubernetes.io/exempt': 'namespace' });
  });

  it('labelling a namespace enforce=restricted warns about its existing pods; a bad level is 422', async () => {
    const ns = `psa-label-${suffix}`;
    const bad = await k(['label', 'ns', ns, 'pod-security.kubernetes.io/enforce=strict']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(
      `The Namespace "${ns}" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`,
    );
    const r = await k(['label', 'ns', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`namespace/${ns} labeled`);
    expect(r.stderr.trim().split('\n')).toEqual([
      `Warning: existing pods in namespace "${ns}" violate the new PodSecurity enforce level "restricted:latest"`,
      'Warning: old-a (and 2 other pods): allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile',
    ]);
    const relaxed = await k(['label', 'ns', ns, '--overwrite', 'pod-security.kubernetes.io/enforce=baseline']);
    expect(relaxed.stderr).toBe('');
  });
});

describe('@kubernetes/client-node', () => {
  it('gets the 403 Status with the PodSecurity message', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
    const api = kc.makeApiClient(CoreV1Api);
    const pod = reader('client-root', 'psa-restricted');
    const err = await api.createNamespacedPod({ namespace: 'psa-restricted', body: pod }).catch(e => e);
    expect(err).toBeInstanceOf(ApiException);
    expect(err.code).toBe(403);
    expect(JSON.parse(err.body)).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        `pods "${pod.metadata!.name}" is forbidden: violates PodSecurity "restricted:latest": ` +
        'unrestricted capabilities (container "backup" must not include "DAC_READ_SEARCH" in securityContext.capabilities.add), ' +
        'runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false), ' +
        'runAsUser=0 (pod must not set runAsUser=0)',
      reason: 'Forbidden',
      details: { name: pod.metadata!.name, kind: 'pods' },
      code: 403,
    });
    const denied = sim.requestLog.filter(e => e.method === 'POST' && e.url.startsWith('/api/v1/namespaces/psa-restricted/pods') && e.status === 403).pop();
    expect(denied?.annotations).toEqual({ 'pod-security.kubernetes.io/enforce-policy': 'restricted:latest' });
    const nonroot = reader('client-nonroot', 'psa-restricted', 65534);
    const created = await api.createNamespacedPod({ namespace: 'psa-restricted', body: nonroot });
    expect(created.metadata?.uid).toBeTruthy();
  });

  it('exempts users and runtime classes from the configuration, not others', async () => {
    const body = (name: string, runtimeClassName?: string): V1Pod => ({ metadata: { name }, spec: { runtimeClassName, containers: [{ name: 'c', image: 'alpine:3.20' }] } });
    const rules = [{ verbs: ['create'], apiGroups: [''], resources: ['pods'] }];
    const asUser = (token: string) => {
      const kc = new KubeConfig();
      kc.loadFromString(sim.kubeconfigFor(token, 'psa-restricted'));
      return kc.makeApiClient(CoreV1Api);
    };
    sim.addToken('psa-exempt-token', rules, { user: 'system:serviceaccount:ops:exempt' });
    sim.addToken('psa-other-token', rules, { user: 'system:serviceaccount:ops:other' });
    await expect(asUser('psa-exempt-token').createNamespacedPod({ namespace: 'psa-restricted', body: body('by-exempt-user') })).resolves.toBeTruthy();
    const err = await asUser('psa-other-token')
      .createNamespacedPod({ namespace: 'psa-restricted', body: body('by-other-user') })
      .catch(e => e);
    expect(err.code).toBe(403);
    await expect(asUser('psa-other-token').createNamespacedPod({ namespace: 'psa-restricted', body: body('kata', 'kata') })).resolves.toBeTruthy();
  });

  it('evaluates a namespace with bad stored labels as enforce restricted and records the parse error', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
    const err = await kc
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: 'psa-broken', body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'alpine:3.20' }] } } })
      .catch(e => e);
    expect(err.code).toBe(403);
    expect(JSON.parse(err.body).message).toBe(`pods "x" is forbidden: violates PodSecurity "restricted:latest": ${RESTRICTED_BARE}`);
    const entry = sim.requestLog.filter(e => e.url.startsWith('/api/v1/namespaces/psa-broken/pods')).pop();
    expect(entry?.annotations?.error).toBe(
      'Failed to parse policy: [metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted, ' +
        'metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "loud": must be one of privileged, baseline, restricted]',
    );
  });

  it('rejects a pod update that changes the image to a violating pod, and not other updates', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
    const api = kc.makeApiClient(CoreV1Api);
    // a fixture pod (stored without admission) in the namespace now enforcing restricted
    await kubectl(['label', 'ns', 'psa-label-1-33', '--overwrite', 'pod-security.kubernetes.io/enforce=restricted'], { kubeconfigPath: sim.kubeconfigPath });
    const pod = await api.readNamespacedPod({ namespace: 'psa-label-1-33', name: 'old-b' });
    pod.metadata!.labels = { ...pod.metadata!.labels, touched: 'yes' };
    await expect(api.replaceNamespacedPod({ namespace: 'psa-label-1-33', name: 'old-b', body: pod })).resolves.toBeTruthy();
    const again = await api.readNamespacedPod({ namespace: 'psa-label-1-33', name: 'old-b' });
    again.spec!.containers[0].image = 'alpine:3.21';
    const err = await api.replaceNamespacedPod({ namespace: 'psa-label-1-33', name: 'old-b', body: again }).catch(e => e);
    expect(err.code).toBe(403);
    expect(JSON.parse(err.body).message).toMatch(/^pods "old-b" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });
});
