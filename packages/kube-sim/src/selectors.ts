/** Label and field selectors with the syntax and errors of k8s.io/apimachinery. */
import { errors } from './status';
import type { KObj } from './types';

export type LabelOp = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

export type LabelSelector = LabelRequirement[];

const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map(p => p.trim()).filter(p => p.length > 0);
}

export function parseLabelSelector(input: string | undefined): LabelSelector {
  if (!input || !input.trim()) return [];
  const reqs: LabelRequirement[] = [];
  for (const part of splitTopLevel(input)) {
    const set = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/);
    const not = part.match(/^!\s*(\S+)$/);
    const cmp = part.match(/^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)$/);
    const exists = part.match(/^(\S+)$/);
    if (set) {
      const values = set[3].split(',').map(v => v.trim());
      reqs.push({ key: set[1], op: set[2] as LabelOp, values: values.length === 1 && values[0] === '' ? [''] : values.filter(v => v !== '') });
    } else if (not) {
      reqs.push({ key: not[1], op: '!', values: [] });
    } else if (cmp) {
      const ops: Record<string, LabelOp> = { '=': '=', '==': '=', '!=': '!=', '<': 'lt', '>': 'gt' };
      reqs.push({ key: cmp[1], op: ops[cmp[2]], values: [cmp[3]] });
    } else if (exists) {
      reqs.push({ key: exists[1], op: 'exists', values: [] });
    } else {
      throw errors.badRequest(`unable to parse requirement: found '${part}', expected: identifier`);
    }
  }
  for (const r of reqs) {
    if (!KEY_RE.test(r.key)) {
      throw errors.badRequest(`unable to parse requirement: values[0][${r.key}]: Invalid value: "${r.key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`);
    }
    for (const v of r.op === 'gt' || r.op === 'lt' ? [] : r.values) {
      if (v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)) {
        throw errors.badRequest(`unable to parse requirement: values[0][${r.key}]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`);
      }
    }
    if ((r.op === 'gt' || r.op === 'lt') && !/^-?\d+$/.test(r.values[0])) {
      throw errors.badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
    }
  }
  return reqs;
}

export function matchesLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  for (const r of sel) {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels![r.key] : undefined;
    switch (r.op) {
      case '=':
        if (!has || v !== r.values[0]) return false;
        break;
      case '!=':
        if (has && v === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v!)) return false;
        const n = Number(v);
        const lim = Number(r.values[0]);
        if (r.op === 'gt' ? !(n > lim) : !(n < lim)) return false;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

/** metav1.LabelSelector (matchLabels/matchExpressions) → requirements. */
export function fromLabelSelectorObject(sel: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> } | undefined): LabelSelector {
  const reqs: LabelRequirement[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) reqs.push({ key: k, op: '=', values: [v] });
  for (const e of sel?.matchExpressions ?? []) {
    const ops: Record<string, LabelOp> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' };
    const op = ops[e.operator] ?? '!';
    reqs.push({ key: e.key, op, values: [...(e.values ?? [])].sort() });
  }
  return reqs;
}

/** The String() form of a selector (sorted by key), as printed in Table "Selector" cells. */
export function formatSelector(sel: LabelSelector): string {
  const sorted = [...sel].sort((a, b) => {
    if (a.key === b.key) return 0;
    return a.key < b.key ? -1 : 1;
  });
  return sorted
    .map(r => {
      switch (r.op) {
        case '=':
          return `${r.key}=${r.values[0]}`;
        case '!=':
          return `${r.key}!=${r.values[0]}`;
        case 'in':
          return `${r.key} in (${r.values.join(',')})`;
        case 'notin':
          return `${r.key} notin (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case '!':
          return `!${r.key}`;
        case 'gt':
          return `${r.key}>${r.values[0]}`;
        case 'lt':
          return `${r.key}<${r.values[0]}`;
        default:
          return '';
      }
    })
    .join(',');
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

export type FieldGetter = (obj: KObj) => string;

const metaFields: Record<string, FieldGetter> = {
  'metadata.name': o => o.metadata.name ?? '',
  'metadata.namespace': o => o.metadata.namespace ?? '',
};

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/** Field selectors each resource supports (pkg/registry/.../strategy.go GetAttrs). */
export const FIELD_GETTERS: Record<string, Record<string, FieldGetter>> = {
  pods: {
    ...metaFields,
    'spec.nodeName': o => str(o.spec?.nodeName),
    'spec.restartPolicy': o => str(o.spec?.restartPolicy),
    'spec.schedulerName': o => str(o.spec?.schedulerName),
    'spec.serviceAccountName': o => str(o.spec?.serviceAccountName),
    'spec.hostNetwork': o => String(Boolean(o.spec?.hostNetwork)),
    'status.phase': o => str(o.status?.phase),
    'status.podIP': o => str(o.status?.podIP),
    'status.nominatedNodeName': o => str(o.status?.nominatedNodeName),
  },
  events: {
    ...metaFields,
    'involvedObject.kind': o => str((o.involvedObject as Record<string, unknown>)?.kind),
    'involvedObject.namespace': o => str((o.involvedObject as Record<string, unknown>)?.namespace),
    'involvedObject.name': o => str((o.involvedObject as Record<string, unknown>)?.name),
    'involvedObject.uid': o => str((o.involvedObject as Record<string, unknown>)?.uid),
    'involvedObject.apiVersion': o => str((o.involvedObject as Record<string, unknown>)?.apiVersion),
    'involvedObject.resourceVersion': o => str((o.involvedObject as Record<string, unknown>)?.resourceVersion),
    'involvedObject.fieldPath': o => str((o.involvedObject as Record<string, unknown>)?.fieldPath),
    reason: o => str(o.reason),
    reportingComponent: o => str(o.reportingComponent),
    source: o => str((o.source as Record<string, unknown>)?.component),
    type: o => str(o.type),
  },
  namespaces: { ...metaFields, 'status.phase': o => str(o.status?.phase) },
  nodes: { ...metaFields, 'spec.unschedulable': o => String(Boolean(o.spec?.unschedulable)) },
  persistentvolumeclaims: { ...metaFields },
  persistentvolumes: { ...metaFields },
  replicasets: { ...metaFields, 'status.replicas': o => str(o.status?.replicas ?? 0) },
  jobs: { ...metaFields, 'status.successful': o => str(o.status?.succeeded ?? 0) },
};

export function parseFieldSelector(input: string | undefined, resource: string): FieldRequirement[] {
  if (!input || !input.trim()) return [];
  const getters = FIELD_GETTERS[resource] ?? metaFields;
  const reqs: FieldRequirement[] = [];
  for (const part of input.split(',')) {
    const p = part.trim();
    if (!p) continue;
    const m = p.match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw errors.badRequest(`invalid selector: '${input}'; can't understand '${p}'`);
    const field = m[1].trim();
    if (!getters[field]) {
      throw errors.badRequest(`field label not supported: ${field}`);
    }
    reqs.push({ field, op: m[2] === '!=' ? '!=' : '=', value: m[3] });
  }
  return reqs;
}

export function matchesFields(reqs: FieldRequirement[], resource: string, obj: KObj): boolean {
  if (reqs.length === 0) return true;
  const getters = FIELD_GETTERS[resource] ?? metaFields;
  for (const r of reqs) {
    const v = getters[r.field](obj);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
