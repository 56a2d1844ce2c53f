/** Kubernetes `Status` error bodies, shaped like the real kube-apiserver's. */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An error that the router turns into a Status response. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    readonly metadata: Record<string, unknown> = {},
  ) {
    super(message);
  }

  toStatus(): StatusBody {
    const body: StatusBody = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: this.metadata,
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) body.details = this.details;
    if (!this.reason) delete body.reason;
    return body;
  }
}

/** A group-qualified resource name as the apiserver prints it: `pods`, `deployments.apps`. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

/** A group-qualified kind as the apiserver prints it: `Pod`, `Deployment.apps`. */
export function qualifiedKind(group: string, kind: string): string {
  return group ? `${kind}.${group}` : kind;
}

function withGroup(details: StatusDetails, group: string): StatusDetails {
  return group ? { ...details, group } : details;
}

export const errors = {
  unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  },
  forbidden(group: string, resource: string, name: string, reason: string): ApiError {
    const what = qualifiedResource(group, resource);
    const message = name ? `${what} "${name}" is forbidden: ${reason}` : `${what} is forbidden: ${reason}`;
    const details: StatusDetails = { kind: resource };
    if (name) details.name = name;
    return new ApiError(403, 'Forbidden', message, withGroup(details, group));
  },
  forbiddenPath(user: string, verb: string, path: string): ApiError {
    return new ApiError(403, 'Forbidden', `forbidden: User "${user}" cannot ${verb} path "${path}"`, {});
  },
  notFound(group: string, resource: string, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualifiedResource(group, resource)} "${name}" not found`, withGroup({ name, kind: resource }, group));
  },
  /** The plain 404 the apiserver returns for paths it does not serve. */
  pathNotFound(): ApiError {
    return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  },
  alreadyExists(group: string, resource: string, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualifiedResource(group, resource)} "${name}" already exists`, withGroup({ name, kind: resource }, group));
  },
  conflict(group: string, resource: string, name: string, why: string): ApiError {
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": ${why}`,
      withGroup({ name, kind: resource }, group),
    );
  },
  invalid(group: string, kind: string, name: string, causes: Array<{ field: string; message: string; reason?: string }>): ApiError {
    const list = causes.map(c => `${c.field}: ${c.message}`);
    const agg = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
    return new ApiError(
      422,
      'Invalid',
      `${qualifiedKind(group, kind)} "${name}" is invalid: ${agg}`,
      withGroup({
        name,
        kind,
        causes: causes.map(c => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field })),
      }, group),
    );
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  },
  methodNotAllowed(method: string): ApiError {
    return new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, {
      causes: [{ reason: 'MethodNotAllowed', message: `${method} is not supported` }],
    });
  },
  /** `accepted` defaults to the patch types (PATCH); `cause` is kube-sim's own hint, kept out of the message. */
  unsupportedMediaType(accepted = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'], cause?: string): ApiError {
    return new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
      cause ? { causes: [{ reason: 'UnsupportedMediaType', message: cause }] } : undefined,
    );
  },
  notAcceptable(): ApiError {
    return new ApiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf');
  },
  expired(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  },
  gone(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  },
  internal(message: string): ApiError {
    return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
  },
};

/** The `Success` Status returned when a resource is deleted without returning the object. */
export function successStatus(details: StatusDetails): Omit<StatusBody, 'code'> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}
