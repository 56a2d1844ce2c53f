import {
  ConflictError,
  InputError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';

/**
 * Errors from a cluster's API server, kept apart from the user's own permission errors: a 403
 * here means the backend's service account lacks an RBAC rule, never that the Backstage user
 * is not allowed something.
 */

/** What the backend was doing when the cluster refused: used to name the RBAC gap. */
export interface KubernetesCallContext {
  verb: 'get' | 'list' | 'watch' | 'create' | 'delete' | 'patch';
  resource: string;
  namespace?: string;
  name?: string;
}

/** A Kubernetes `Status` body, as far as we read it. */
export interface KubernetesStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

export class KubernetesApiError extends Error {
  readonly name = 'KubernetesApiError';
  constructor(
    readonly cluster: string,
    readonly clusterStatusCode: number | undefined,
    readonly context: KubernetesCallContext,
    readonly status: KubernetesStatus | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Why a 403 happened: a missing RBAC rule, Pod Security admission, or a ResourceQuota. */
  get refusal(): ClusterRefusal | undefined {
    return this.clusterStatusCode === 403 ? refusalOf(this.status) : undefined;
  }

  /** True when the backend's own identity is not allowed this call on this cluster. */
  get isRbacGap(): boolean {
    return this.refusal === 'rbac';
  }
}

export type ClusterRefusal = 'rbac' | 'admission' | 'quota';

const POD_SECURITY = /violates PodSecurity "([^"]+)": (.*)$/s;
const QUOTA = /exceeded quota: /;

/**
 * The apiserver answers 403 Forbidden for three different things: RBAC denials, Pod Security
 * admission ("pods \"x\" is forbidden: violates PodSecurity \"baseline:latest\": …") and quota
 * ("… is forbidden: exceeded quota: …"). Only the first is a gap in our service account.
 */
function refusalOf(status: KubernetesStatus | undefined): ClusterRefusal {
  const message = status?.message ?? '';
  if (POD_SECURITY.test(message)) return 'admission';
  if (QUOTA.test(message)) return 'quota';
  return 'rbac';
}

function scope(context: KubernetesCallContext): string {
  return context.namespace ? `in namespace '${context.namespace}'` : 'at the cluster scope';
}

/** "the service account of cluster 'x' may not list persistentvolumeclaims at the cluster scope" */
export function describeRbacGap(cluster: string, context: KubernetesCallContext): string {
  return (
    `RBAC gap: the volume-manager backend's identity on cluster '${cluster}' may not ` +
    `${context.verb} ${context.resource} ${scope(context)}. Grant it in the backend's ` +
    `ClusterRole/Role (see deploy/k8s/rbac); this is not a permission problem of the Backstage user.`
  );
}

function describeKubernetesError(
  cluster: string,
  statusCode: number | undefined,
  context: KubernetesCallContext,
  status: KubernetesStatus | undefined,
): string {
  if (statusCode === 403) {
    const where = context.namespace ? `namespace '${context.namespace}'` : 'the cluster';
    const message = status?.message ?? '';
    const admission = POD_SECURITY.exec(message);
    if (admission) {
      return (
        `Pod Security admission on cluster '${cluster}' refused to ${context.verb} ${context.resource} ` +
        `in ${where}, which enforces "${admission[1]}": ${admission[2]}.`
      );
    }
    if (QUOTA.test(message)) {
      return `A ResourceQuota on cluster '${cluster}' refused to ${context.verb} ${context.resource} in ${where}: ${message}.`;
    }
    return describeRbacGap(cluster, context);
  }
  if (statusCode === 401) {
    return `Cluster '${cluster}' rejected the backend's credentials (401 Unauthorized)`;
  }
  const what = `${context.verb} ${context.resource}${context.name ? ` '${context.name}'` : ''} ${scope(context)}`;
  const detail = status?.message ?? (statusCode ? `HTTP ${statusCode}` : 'no response');
  return `Cluster '${cluster}' failed to ${what}: ${detail}`;
}

/**
 * The error for a non-2xx answer, from its body: the cluster's `Status` when the body holds one
 * (chunked bodies included), else the start of the text.
 */
export function kubernetesErrorFromResponse(
  cluster: string,
  statusCode: number,
  context: KubernetesCallContext,
  body: string,
): KubernetesApiError {
  let status: KubernetesStatus | undefined;
  const start = body.indexOf('{');
  const end = body.lastIndexOf('}');
  if (start >= 0 && end > start) {
    try {
      const parsed: unknown = JSON.parse(body.slice(start, end + 1));
      if (parsed && typeof parsed === 'object') status = parsed as KubernetesStatus;
    } catch {
      // not JSON: the text itself is the message
    }
  }
  const message = describeKubernetesError(cluster, statusCode, context, status ?? { message: body.trim().slice(0, 200) || undefined });
  return new KubernetesApiError(cluster, statusCode, context, status, message);
}

/*
 * Note: KubernetesApiError deliberately has no `statusCode` field. Backstage's error middleware
 * would copy it into the HTTP response, and a cluster's 403 must never reach a user as their
 * own 403. Services translate these errors (see toServiceError).
 */

/** Turns a cluster error into the `@backstage/errors` type the user should see. */
export function toServiceError(error: unknown): unknown {
  if (!(error instanceof KubernetesApiError)) return error;
  switch (error.clusterStatusCode) {
    case 404:
      return new NotFoundError(error.message, error);
    case 409:
      return new ConflictError(error.message, error);
    case 422:
      return new InputError(error.message, error);
    default:
      return new ServiceUnavailableError(error.message, error);
  }
}
