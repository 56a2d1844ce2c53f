/** JSON merge patch (RFC 7386), a strategic-merge-patch subset, and JSON patch (RFC 6902). */
import { errors } from './status';

type JsonObj = Record<string, unknown>;

function isObj(v: unknown): v is JsonObj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch;
  const out: JsonObj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Merge keys for the list fields kube-sim's objects use (from the Kubernetes API's patchMergeKey tags). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  env: 'name',
  ports: 'containerPort',
  tolerations: '',
  conditions: 'type',
  ownerReferences: 'uid',
  imagePullSecrets: 'name',
  finalizers: '',
};

/**
 * Strategic merge patch: like a merge patch, but lists with a merge key are merged element by
 * element, `$patch: delete|replace` directives are honoured and `$`-directives are stripped.
 */
export function strategicMergePatch(target: unknown, patch: unknown, field = ''): unknown {
  if (!isObj(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch, ...rest } = patch;
    void $patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: JsonObj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) {
      if (k.startsWith('$deleteFromPrimitiveList/')) {
        const list = k.slice('$deleteFromPrimitiveList/'.length);
        if (Array.isArray(out[list]) && Array.isArray(v)) out[list] = (out[list] as unknown[]).filter(x => !v.includes(x));
      } else if (k.startsWith('$setElementOrder/')) {
        /* ordering directive: ignored */
      }
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const mk = MERGE_KEYS[k];
    if (Array.isArray(v) && mk && Array.isArray(out[k])) {
      const merged = [...(out[k] as unknown[])];
      for (const el of v) {
        if (!isObj(el)) {
          merged.push(el);
          continue;
        }
        const idx = merged.findIndex(m => isObj(m) && m[mk] === el[mk]);
        if (el.$patch === 'delete') {
          if (idx >= 0) merged.splice(idx, 1);
        } else if (idx >= 0) merged[idx] = strategicMergePatch(merged[idx], el, k);
        else merged.push(stripDirectives(el));
      }
      out[k] = merged;
    } else if (Array.isArray(v) && mk === '' && Array.isArray(out[k]) && (k === 'finalizers')) {
      out[k] = [...new Set([...(out[k] as unknown[]), ...v])];
    } else if (isObj(v)) {
      const r = strategicMergePatch(out[k], v, k);
      if (r === undefined) delete out[k];
      else out[k] = r;
    } else {
      out[k] = Array.isArray(v) ? v.map(stripDirectives) : v;
    }
  }
  void field;
  return out;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObj(v)) return v;
  const out: JsonObj = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

function unescapePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw errors.badRequest(`JSON pointer must start with "/": ${p}`);
  return p
    .slice(1)
    .split('/')
    .map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function pointerGet(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const seg of unescapePointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObj(cur)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

/** Applies one add/replace/remove at `path`; returns the (possibly new) document root. */
function pointerSet(doc: unknown, path: string, value: unknown, mode: 'add' | 'replace' | 'remove'): unknown {
  const segs = unescapePointer(path);
  if (segs.length === 0) return value;
  let parent: unknown = doc;
  for (const seg of segs.slice(0, -1)) {
    if (Array.isArray(parent)) parent = parent[Number(seg)];
    else parent = isObj(parent) ? parent[seg] : undefined;
    if (parent === undefined) throw errors.internal(`jsonpatch ${mode} operation does not apply: doc is missing path: "${path}"`);
  }
  const last = segs[segs.length - 1];
  if (Array.isArray(parent)) {
    const idx = last === '-' ? parent.length : Number(last);
    if (mode === 'add') parent.splice(idx, 0, value);
    else if (mode === 'replace') parent[idx] = value;
    else parent.splice(idx, 1);
  } else if (isObj(parent)) {
    if ((mode === 'remove' || mode === 'replace') && !(last in parent)) {
      throw errors.internal(`jsonpatch ${mode} operation does not apply: doc is missing key: ${path}`);
    }
    if (mode === 'remove') delete parent[last];
    else parent[last] = value;
  }
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw errors.badRequest('the server rejected our request due to an error in our request');
  let doc = structuredClone(target);
  for (const op of ops as Array<{ op: string; path: string; value?: unknown; from?: string }>) {
    switch (op.op) {
      case 'add':
      case 'replace':
        doc = pointerSet(doc, op.path, op.value, op.op);
        break;
      case 'remove':
        doc = pointerSet(doc, op.path, undefined, 'remove');
        break;
      case 'test':
        if (JSON.stringify(pointerGet(doc, op.path)) !== JSON.stringify(op.value)) throw errors.internal('testing value failed');
        break;
      case 'copy':
        doc = pointerSet(doc, op.path, structuredClone(pointerGet(doc, op.from!)), 'add');
        break;
      case 'move': {
        const v = pointerGet(doc, op.from!);
        doc = pointerSet(pointerSet(doc, op.from!, undefined, 'remove'), op.path, v, 'add');
        break;
      }
      default:
        throw errors.badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}
