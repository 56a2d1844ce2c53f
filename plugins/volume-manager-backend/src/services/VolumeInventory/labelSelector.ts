/**
 * Kubernetes label selector strings (`a=b,c!=d,e in (f,g),h notin (i),j,!k`), parsed once and
 * matched against label maps on the client, the same semantics the API server applies.
 */
export type LabelMatcher = (labels: Record<string, string> | undefined) => boolean;

type Requirement =
  /** `equality`: written `k=v` or `k==v`. */
  | { op: 'in' | 'notin'; key: string; values: string[]; equality?: true }
  | { op: 'exists' | 'doesnotexist'; key: string };

function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map(p => p.trim()).filter(Boolean);
}

function parseRequirement(term: string): Requirement {
  let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) {
    return {
      op: m[2] as 'in' | 'notin',
      key: m[1],
      values: m[3].split(',').map(v => v.trim()).filter(Boolean),
    };
  }
  m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (m) {
    return m[2] === '!='
      ? { op: 'notin', key: m[1], values: [m[3]] }
      : { op: 'in', key: m[1], values: [m[3]], equality: true };
  }
  m = /^!\s*(\S+)$/.exec(term);
  if (m) return { op: 'doesnotexist', key: m[1] };
  m = /^(\S+)$/.exec(term);
  if (m) return { op: 'exists', key: m[1] };
  throw new Error(`Invalid label selector term '${term}'`);
}

/** Throws on a selector the API server would reject. An empty selector matches everything. */
export function parseLabelSelector(selector: string): LabelMatcher {
  const requirements = splitTopLevel(selector).map(parseRequirement);
  return labels => {
    const l = labels ?? {};
    return requirements.every(r => {
      const has = Object.prototype.hasOwnProperty.call(l, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case 'doesnotexist':
          return !has;
        case 'in':
          return has && r.values.includes(l[r.key]);
        case 'notin':
          return !has || !r.values.includes(l[r.key]);
        default:
          return false;
      }
    });
  };
}

const LABEL_KEY = /^[A-Za-z0-9][-A-Za-z0-9_./]*$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * The labels a PVC needs to match a selector made only of equality requirements (`k=v`,
 * `k==v`, as `backstage.io/kubernetes-id=<id>` is), or undefined for any other selector (set-based
 * or negated requirements name no labels to give) and for keys or values no label can hold.
 */
export function selectorLabels(selector: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  for (const term of splitTopLevel(selector)) {
    let requirement: Requirement;
    try {
      requirement = parseRequirement(term);
    } catch {
      return undefined;
    }
    if (
      requirement.op !== 'in' ||
      !requirement.equality ||
      !LABEL_KEY.test(requirement.key) ||
      !LABEL_VALUE.test(requirement.values[0])
    ) {
      return undefined;
    }
    labels[requirement.key] = requirement.values[0];
  }
  return Object.keys(labels).length > 0 ? labels : undefined;
}
