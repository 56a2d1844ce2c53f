/** Parses an apiserver URL path into request attributes (k8s.io/apiserver RequestInfoFactory). */
import { findResource, type ResourceType } from './resources';

export interface RequestInfo {
  path: string;
  resourceRequest: boolean;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  type?: ResourceType;
  /** e.g. ['api'], ['apis','apps'] for discovery paths */
  parts: string[];
}

export function parseRequestInfo(method: string, pathname: string, query: URLSearchParams): RequestInfo {
  const parts = pathname.split('/').filter(p => p.length > 0).map(decodeURIComponent);
  const info: RequestInfo = { path: pathname, resourceRequest: false, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', resource: '', subresource: '', namespace: '', name: '', parts };
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    info.apiVersion = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    info.apiGroup = parts[1];
    info.apiVersion = parts[2];
    rest = parts.slice(3);
  } else {
    info.verb = method === 'GET' || method === 'HEAD' ? 'get' : method.toLowerCase();
    return info;
  }
  info.resourceRequest = true;
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  if (rest[0] === 'namespaces' && rest.length > 1) {
    info.namespace = rest[1];
    if (rest.length > 2 && rest[2] !== 'status' && rest[2] !== 'finalize') rest = rest.slice(2);
  }
  if (rest.length) {
    info.resource = rest[0];
    info.name = rest[1] ?? '';
    info.subresource = rest.slice(2).join('/');
  }
  // like the real apiserver, /api/v1/namespaces/{name} carries namespace={name} for authorization
  info.type = findResource(info.apiGroup, info.apiVersion, info.resource);
  const isWatch = watchPath || query.get('watch') === 'true' || query.get('watch') === '1';
  switch (method) {
    case 'POST':
      info.verb = 'create';
      break;
    case 'GET':
    case 'HEAD':
      if (isWatch) info.verb = 'watch';
      else info.verb = info.name ? 'get' : 'list';
      break;
    case 'PUT':
      info.verb = 'update';
      break;
    case 'PATCH':
      info.verb = 'patch';
      break;
    case 'DELETE':
      info.verb = info.name ? 'delete' : 'deletecollection';
      break;
    default:
      info.verb = method.toLowerCase();
  }
  return info;
}
