/**
 * Whether an API error means the backend does not serve that route at all, as opposed to a
 * route that exists and failed.
 *
 * The volume-manager backend grows route by route. A route it does not have yet falls through to
 * Backstage's router, which answers `404` with an empty body, while a route that exists throws
 * `NotFoundError` and answers `404` with Backstage's error envelope. A `501` is treated the same
 * way: the backend knows the route but has not implemented it.
 *
 * @public
 */
export function isEndpointUnavailable(error: unknown): boolean {
  if (!error || typeof error !== 'object') {
    return false;
  }
  const candidate = error as {
    name?: unknown;
    statusCode?: unknown;
    body?: { error?: { name?: unknown } };
  };
  if (candidate.name !== 'ResponseError') {
    return false;
  }
  if (candidate.statusCode === 501) {
    return true;
  }
  return (
    candidate.statusCode === 404 &&
    candidate.body?.error?.name !== 'NotFoundError'
  );
}

/**
 * The message to show a user for a failed call: the backend's own message from Backstage's error
 * envelope when there is one (a `ResponseError`'s own message is only "Request failed with 403"),
 * else the error's message.
 *
 * @public
 */
export function errorMessage(error: unknown): string {
  const candidate = error as
    | { message?: unknown; body?: { error?: { message?: unknown } } }
    | undefined;
  const fromBody = candidate?.body?.error?.message;
  if (typeof fromBody === 'string' && fromBody) {
    return fromBody;
  }
  return typeof candidate?.message === 'string' ? candidate.message : String(error);
}
