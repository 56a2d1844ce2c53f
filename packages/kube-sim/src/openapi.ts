/**
 * A minimal OpenAPI v3 surface: `/openapi/v3` and one document per group-version listing the
 * resource paths with their operations, `x-kubernetes-group-version-kind` and the
 * `fieldValidation` query parameter. kubectl (≥1.27) reads it to decide that the server
 * validates fields itself (`create -f`, `apply`, `replace`); without it kubectl refuses to
 * create anything unless run with --validate=false. No schemas are published, so kubectl
 * falls back to its compiled-in types where it would use them (apply's patch computation).
 */
import { createHash } from 'node:crypto';
import { SERVER_VERSION } from './discovery';
import { encodeField as field } from './protobuf';
import { GROUPS, RESOURCE_TYPES, type ResourceType } from './resources';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'pretty'].map(name => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } }));
const LIST_PARAMS = ['allowWatchBookmarks', 'continue', 'fieldSelector', 'labelSelector', 'limit', 'resourceVersion', 'resourceVersionMatch', 'sendInitialEvents', 'timeoutSeconds', 'watch'].map(name => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } }));

function op(t: ResourceType, action: string, params: object[]): object {
  return {
    tags: [t.group ? `${t.group.split('.')[0]}_${t.version}` : `core_${t.version}`],
    operationId: `${action}${t.kind}`,
    parameters: params,
    responses: { '200': { description: 'OK' }, '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind },
  };
}

export function groupVersionDoc(group: string, version: string): object | undefined {
  const types = RESOURCE_TYPES.filter(t => t.group === group && t.version === version);
  if (!types.length) return undefined;
  const paths: Record<string, object> = {};
  const base = `/${gvPath(group, version)}`;
  for (const t of types) {
    if (t.virtual) {
      paths[`${base}/${t.resource}`] = { post: op(t, 'post', QUERY_PARAMS) };
      continue;
    }
    const coll = t.namespaced ? `${base}/namespaces/{namespace}/${t.resource}` : `${base}/${t.resource}`;
    paths[coll] = { get: op(t, 'list', LIST_PARAMS), post: op(t, 'post', QUERY_PARAMS), delete: op(t, 'deletecollection', QUERY_PARAMS) };
    paths[`${coll}/{name}`] = { get: op(t, 'get', []), put: op(t, 'put', QUERY_PARAMS), patch: op(t, 'patch', [...QUERY_PARAMS, { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } }]), delete: op(t, 'delete', QUERY_PARAMS) };
    if (t.namespaced) paths[`${base}/${t.resource}`] = { get: op(t, 'list', LIST_PARAMS) };
    for (const s of t.subresources ?? []) {
      if (s.name === 'status') paths[`${coll}/{name}/status`] = { get: op(t, 'get', []), put: op(t, 'put', QUERY_PARAMS), patch: op(t, 'patch', QUERY_PARAMS) };
    }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion }, paths, components: { schemas: {} } };
}

let rootCache: string | undefined;
const docCache = new Map<string, string>();

export function openApiDoc(gvp: string): string | undefined {
  if (!docCache.size) {
    for (const gv of [{ name: '', version: 'v1' }, ...GROUPS]) {
      const d = groupVersionDoc(gv.name, gv.version);
      if (d) docCache.set(gvPath(gv.name, gv.version), JSON.stringify(d));
    }
  }
  return docCache.get(gvp);
}

export function openApiRoot(): string {
  if (!rootCache) {
    const paths: Record<string, object> = {};
    openApiDoc('api/v1');
    for (const [p, doc] of docCache) {
      const hash = createHash('sha512').update(doc).digest('hex').slice(0, 128).toUpperCase();
      paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
    }
    rootCache = JSON.stringify({ paths });
  }
  return rootCache;
}


// ---- OpenAPI v2 (kubectl ≤1.32 reads it as gnostic protobuf to find the fieldValidation parameter)

function v2Operation(t: ResourceType, action: string, withParams: boolean): Buffer {
  const parts: Buffer[] = [field(5, `${action}${t.kind}`)];
  if (withParams) {
    for (const name of ['dryRun', 'fieldManager', 'fieldValidation']) {
      // QueryParameterSubSchema{in=2, name=4, type=6} in NonBodyParameter(3) in Parameter(2) in ParametersItem(1)
      const q = Buffer.concat([field(2, 'query'), field(4, name), field(6, 'string')]);
      parts.push(field(8, field(1, field(2, field(3, q)))));
    }
  }
  const gvk = `group: "${t.group}"\nkind: ${t.kind}\nversion: ${t.version}\n`;
  parts.push(field(13, Buffer.concat([field(1, 'x-kubernetes-action'), field(2, field(2, `${action}\n`))])));
  parts.push(field(13, Buffer.concat([field(1, 'x-kubernetes-group-version-kind'), field(2, field(2, gvk))])));
  return Buffer.concat(parts);
}

let v2Cache: Buffer | undefined;

/** The gnostic openapi_v2.Document protobuf (paths with PATCH operations only). */
export function openApiV2Protobuf(): Buffer {
  if (v2Cache) return v2Cache;
  const paths: Buffer[] = [];
  for (const t of RESOURCE_TYPES) {
    if (t.virtual) continue;
    const base = `/${gvPath(t.group, t.version)}`;
    const coll = t.namespaced ? `${base}/namespaces/{namespace}/${t.resource}` : `${base}/${t.resource}`;
    const item = Buffer.concat([field(8, v2Operation(t, 'patch', true)), field(3, v2Operation(t, 'put', true))]);
    paths.push(field(1, Buffer.concat([field(1, `${coll}/{name}`), field(2, item)])));
  }
  const info = Buffer.concat([field(1, 'Kubernetes'), field(2, SERVER_VERSION.gitVersion)]);
  v2Cache = Buffer.concat([field(1, '2.0'), field(2, info), field(8, Buffer.concat(paths))]);
  return v2Cache;
}
