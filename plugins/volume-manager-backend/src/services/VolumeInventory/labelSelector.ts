/**
 * Kubernetes label selector strings (`a=b,c!=d,e in (f,g),h notin (i),j,!k`), parsed once and
 * matched against label maps on the client, the same semantics the API server applies.
 */
export type LabelMatcher = (labels: Record<string, string> | undefined) => boolean;

type Requirement =
  | { op: 'in' | 'notin'; key: string; values: string[] }
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
    return { op: m[2] === '!=' ? 'notin' : 'in', key: m[1], values: [m[3]] };
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
