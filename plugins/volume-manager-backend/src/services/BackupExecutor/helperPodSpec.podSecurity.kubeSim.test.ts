/*
 * The helper pods this plugin creates, against kube-sim's PodSecurity admission (which answers
 * like kube-apiserver 1.33): what a namespace enforcing baseline or restricted accepts, through
 * the real kubectl and @kubernetes/client-node.
 */
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { kubectl, KUBECTL_VERSIONS } from '@nkvm/kube-sim/src/__testutils__/kubectl';
import { helperPodSpec, type HelperPodInput } from './helperPodSpec';

jest.setTimeout(60_000);

let sim: KubeSim;

beforeAll(async () => {
  sim = await startKubeSim({
    fixture: {
      nodes: [{ name: 'node-a' }],
      namespaces: [
        { name: 'team-baseline', labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } },
        { name: 'team-restricted', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
      ],
    },
    generateFiles: false,
  });
});

afterAll(async () => {
  await sim?.stop();
});

function helper(namespace: string, itemId: string, over: Partial<HelperPodInput> = {}) {
  return helperPodSpec({
    namespace,
    pvc: 'data',
    runId: 'run-1',
    itemId,
    installationId: 'test-installation',
    image: 'alpine:3.20',
    activeDeadlineSeconds: 600,
    defaultSecurityMode: 'root',
    ...over,
  });
}

const DAC_READ_SEARCH =
  'non-default capabilities (container "backup" must not include "DAC_READ_SEARCH" in securityContext.capabilities.add)';

describe.each(KUBECTL_VERSIONS)('kubectl %s apply', version => {
  const apply = (manifest: object) =>
    kubectl(['apply', '-f', '-'], { kubeconfigPath: sim.kubeconfigPath, version, input: JSON.stringify(manifest) });
  const id = version.replace('.', '');

  it('baseline rejects the opted-in root helper (it adds DAC_READ_SEARCH)', async () => {
    const pod = helper('team-baseline', `root${id}`, { readAll: true });
    const r = await apply(pod);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `Error from server (Forbidden): error when creating "STDIN": pods "${pod.metadata!.name}" is forbidden: violates PodSecurity "baseline:latest": ${DAC_READ_SEARCH}`,
    );
  });

  it('baseline admits the default helper of a workload that sets no uid (root, no capabilities)', async () => {
    const pod = helper('team-baseline', `def${id}`);
    const r = await apply(pod);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`pod/${pod.metadata!.name} created`);
  });

  it("restricted admits the helper that runs as the workload's user", async () => {
    const pod = helper('team-restricted', `wl${id}`, { workloadSecurity: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 } });
    const r = await apply(pod);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`pod/${pod.metadata!.name} created`);
  });
});

describe('@kubernetes/client-node', () => {
  const api = () => {
    const kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
    return kc.makeApiClient(CoreV1Api);
  };

  it('restricted rejects the opted-in root helper with every failed control named', async () => {
    const pod = helper('team-restricted', 'clientroot', { readAll: true });
    const err = await api()
      .createNamespacedPod({ namespace: 'team-restricted', body: pod })
      .catch(e => e);
    expect(err).toBeInstanceOf(ApiException);
    expect(err.code).toBe(403);
    const status = JSON.parse(err.body);
    expect(status).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
    expect(status.message).toBe(
      `pods "${pod.metadata!.name}" is forbidden: violates PodSecurity "restricted:latest": ` +
        'unrestricted capabilities (container "backup" must not include "DAC_READ_SEARCH" in securityContext.capabilities.add), ' +
        'runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false), ' +
        'runAsUser=0 (pod must not set runAsUser=0)',
    );
  });

  it('restricted admits the configured non-root helper, baseline admits the workload-identity one', async () => {
    await expect(
      api().createNamespacedPod({ namespace: 'team-restricted', body: helper('team-restricted', 'nonroot', { defaultSecurityMode: 'nonroot' }) }),
    ).resolves.toMatchObject({ metadata: { namespace: 'team-restricted' } });
    await expect(
      api().createNamespacedPod({
        namespace: 'team-baseline',
        body: helper('team-baseline', 'rootwl', { workloadSecurity: { runAsUser: 0 } }),
      }),
    ).resolves.toMatchObject({ metadata: { namespace: 'team-baseline' } });
  });
});
