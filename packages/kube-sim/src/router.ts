/** HTTP entry point: authentication, authorization, discovery and dispatch to the resource API. */
import type http from 'node:http';
import { ResourceApi } from './api';
import { Authorizer, type Attributes, type TokenEntry } from './authz';
import type { SimContext } from './context';
import { apiGroup, apiGroupList, apiVersions, coreResourceList, groupResourceList, SERVER_VERSION } from './discovery';
import { FaultInjector } from './faults';
import { auditAnnotationsOf, negotiate, sendError, sendJson } from './http';
import { openApiDoc, openApiRoot, openApiV2Protobuf } from './openapi';
import { parseRequestInfo, type RequestInfo } from './requestInfo';
import { POD } from './resources';
import { ApiError, errors } from './status';

const PUBLIC_PATHS = new Set(['/version', '/version/', '/healthz', '/livez', '/readyz']);
const MAX_LOG = 20_000;

export function attributesFor(info: RequestInfo, entry: TokenEntry): Attributes {
  return {
    user: entry.user,
    verb: info.verb,
    resourceRequest: info.resourceRequest,
    apiGroup: info.apiGroup,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
    path: info.path,
  };
}

/** Throws 401/403 unless the caller may perform the request. */
export function authorizeRequest(ctx: SimContext, info: RequestInfo, authorization: string | undefined): TokenEntry {
  const entry = authorization ? ctx.authz.authenticate(authorization) : ctx.anonymous;
  if (!entry) throw errors.unauthorized();
  const attrs = attributesFor(info, entry);
  if (!ctx.authz.authorize(entry, attrs)) {
    if (!info.resourceRequest) throw errors.forbiddenPath(entry.user.name, info.verb, info.path);
    throw errors.forbidden(info.apiGroup, info.resource, info.name, Authorizer.forbiddenReason(attrs));
  }
  return entry;
}

export class Router {
  private readonly api: ResourceApi;

  constructor(private readonly ctx: SimContext) {
    this.api = new ResourceApi(ctx);
  }

  get resources(): ResourceApi {
    return this.api;
  }

  log(method: string, url: string, status: number, user?: string, annotations?: Record<string, string>): void {
    const log = this.ctx.requestLog;
    log.push({ method, url, status, user, at: Date.now(), ...(annotations && { annotations }) });
    if (log.length > MAX_LOG) log.splice(0, log.length - MAX_LOG);
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let user: string | undefined;
    res.on('finish', () => this.log(req.method ?? '', req.url ?? '', res.statusCode, user, auditAnnotationsOf(res)));
    const fault = this.ctx.faults.match(req.method ?? 'GET', req.url ?? '/');
    if (fault) {
      const act = () => {
        if (res.destroyed) return;
        if (fault.status) sendJson(res, fault.status, FaultInjector.statusBody(fault));
        else this.serve(req, res, u => (user = u));
      };
      if (fault.delayMs) setTimeout(act, fault.delayMs).unref?.();
      else act();
      return;
    }
    this.serve(req, res, u => (user = u));
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse, setUser: (u: string) => void): void {
    this.dispatch(req, res, setUser).catch(err => {
      if (!(err instanceof ApiError)) {
        // eslint-disable-next-line no-console
        console.error('kube-sim: internal error', err);
      }
      sendError(res, err);
    });
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse, setUser: (u: string) => void): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kube-sim');
    const method = req.method ?? 'GET';
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') || '/' : url.pathname;
    if (PUBLIC_PATHS.has(url.pathname)) {
      if (path.startsWith('/version')) sendJson(res, 200, SERVER_VERSION);
      else {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('ok');
      }
      return;
    }
    const info = parseRequestInfo(method, path, url.searchParams);
    const entry = authorizeRequest(this.ctx, info, req.headers.authorization);
    setUser(entry.user.name);
    if (!info.resourceRequest) {
      this.discovery(info, req, res);
      return;
    }
    if (!info.type) throw errors.pathNotFound();
    if (info.type === POD && (info.subresource === 'exec' || info.subresource === 'attach' || info.subresource === 'portforward')) {
      throw errors.badRequest('Upgrade request required');
    }
    if (info.type === POD && info.subresource === 'log') {
      this.podLog(info, url.searchParams, res);
      return;
    }
    await this.api.handle(info, url.searchParams, req, res, entry);
  }

  private discovery(info: RequestInfo, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw errors.methodNotAllowed(req.method ?? '');
    if (info.path === '/openapi/v2' && /protobuf/.test(req.headers.accept ?? '')) {
      const body = openApiV2Protobuf();
      res.writeHead(200, { 'Content-Type': 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    const neg = negotiate(req.headers.accept);
    if (!neg.acceptable) throw errors.notAcceptable();
    const p = info.parts;
    let body: object | undefined;
    if (p.length === 1 && p[0] === 'api') body = apiVersions(this.ctx.serverAddress());
    else if (p.length === 2 && p[0] === 'api' && p[1] === 'v1') body = coreResourceList();
    else if (p.length === 1 && p[0] === 'apis') body = apiGroupList();
    else if (p.length === 2 && p[0] === 'apis') body = apiGroup(p[1]);
    else if (p.length === 3 && p[0] === 'apis') body = groupResourceList(p[1], p[2]);
    else if (p[0] === 'openapi' && p[1] === 'v3') {
      const doc = p.length === 2 ? openApiRoot() : openApiDoc(p.slice(2).join('/'));
      if (!doc) throw errors.pathNotFound();
      sendJson(res, 200, doc);
      return;
    }
    if (!body) throw errors.pathNotFound();
    sendJson(res, 200, body);
  }

  private podLog(info: RequestInfo, query: URLSearchParams, res: http.ServerResponse): void {
    const pod = this.ctx.store.get(POD, info.namespace, info.name);
    if (!pod) throw errors.notFound('', 'pods', info.name);
    const containers: Array<{ name: string }> = pod.obj.spec?.containers ?? [];
    const container = query.get('container');
    if (!container && containers.length > 1) {
      throw errors.badRequest(`a container name must be specified for pod ${info.name}, choose one of: [${containers.map(c => c.name).join(' ')}]`);
    }
    if (container && !containers.some(c => c.name === container)) {
      throw errors.badRequest(`container ${container} is not valid for pod ${info.name}`);
    }
    const name = container ?? containers[0]?.name;
    const statuses: Array<{ name: string; state?: { waiting?: { reason?: string } } }> = pod.obj.status?.containerStatuses ?? [];
    const waiting = statuses.find(s => s.name === name)?.state?.waiting;
    if (pod.obj.status?.phase === 'Pending' || waiting) {
      throw errors.badRequest(`container "${name}" in pod "${info.name}" is waiting to start: ${waiting?.reason ?? 'ContainerCreating'}`);
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
    res.end('');
  }
}
