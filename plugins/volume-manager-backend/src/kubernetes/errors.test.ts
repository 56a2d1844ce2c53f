import { KubernetesApiError, kubernetesErrorFromResponse, toServiceError } from './errors';

const create = { verb: 'create', resource: 'pods', namespace: 'payments' } as const;
const forbidden = (message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason: 'Forbidden', code: 403 });

describe('kubernetesErrorFromResponse', () => {
  it('names an RBAC denial as a gap in the backend identity, never as the user', () => {
    const error = kubernetesErrorFromResponse(
      'prod',
      403,
      create,
      forbidden('pods is forbidden: User "system:serviceaccount:nkvm:nkvm" cannot create resource "pods" in API group "" in the namespace "payments"'),
    );
    expect(error.refusal).toBe('rbac');
    expect(error.isRbacGap).toBe(true);
    expect(error.message).toMatch(/^RBAC gap: .* may not create pods in namespace 'payments'/);
  });

  it('reports Pod Security admission as what it is, with the enforced level and the controls', () => {
    const error = kubernetesErrorFromResponse(
      'prod',
      403,
      create,
      forbidden(
        'pods "nkvm-backup-1" is forbidden: violates PodSecurity "baseline:latest": non-default capabilities (container "backup" must not include "DAC_READ_SEARCH" in securityContext.capabilities.add)',
      ),
    );
    expect(error.refusal).toBe('admission');
    expect(error.isRbacGap).toBe(false);
    expect(error.message).toBe(
      `Pod Security admission on cluster 'prod' refused to create pods in namespace 'payments', which enforces "baseline:latest": ` +
        `non-default capabilities (container "backup" must not include "DAC_READ_SEARCH" in securityContext.capabilities.add).`,
    );
    expect(error.message).not.toMatch(/RBAC/);
  });

  it('reports a ResourceQuota refusal as a quota, not an RBAC gap', () => {
    const error = kubernetesErrorFromResponse(
      'prod',
      403,
      create,
      forbidden('pods "nkvm-backup-1" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10'),
    );
    expect(error.refusal).toBe('quota');
    expect(error.message).toMatch(/^A ResourceQuota on cluster 'prod' refused to create pods in namespace 'payments': .*exceeded quota: pods/);
  });

  it('has no refusal for other statuses, and maps them to the service errors users see', () => {
    const error = kubernetesErrorFromResponse('prod', 404, { verb: 'get', resource: 'pods', namespace: 'x', name: 'y' }, '{"message":"pods \\"y\\" not found"}');
    expect(error).toBeInstanceOf(KubernetesApiError);
    expect(error.refusal).toBeUndefined();
    expect((toServiceError(error) as Error).name).toBe('NotFoundError');
  });
});
