/**
 * Bearer-token authentication and an RBAC-like authorizer: each token maps to a user and a list
 * of rules (verbs × apiGroups × resources [× resourceNames] [× namespaces]). A rule without
 * `namespaces` acts like a ClusterRoleBinding (all namespaces and cluster scope); a rule with
 * `namespaces` acts like RoleBindings in those namespaces only.
 */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  /** `pods`, `pods/exec`, `*` or `*` + `/status` */
  resources?: string[];
  resourceNames?: string[];
  /** limit the rule to these namespaces; omit for cluster-wide */
  namespaces?: string[];
  /** non-resource URLs like `/healthz`, `/api/*` */
  nonResourceURLs?: string[];
}

export interface UserInfo {
  name: string;
  groups: string[];
}

export interface TokenEntry {
  token: string;
  user: UserInfo;
  rules: PolicyRule[];
  /** epoch ms after which the token no longer authenticates (TokenRequest tokens) */
  expiresAt?: number;
}

export interface Attributes {
  user: UserInfo;
  verb: string;
  /** for resource requests */
  resourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
}

/** What every authenticated user may do (the system:discovery / system:basic-user roles). */
export const DISCOVERY_RULES: PolicyRule[] = [
  {
    verbs: ['get'],
    nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'],
  },
  { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] },
];

export const ADMIN_RULES: PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

/** Full access inside the given namespaces, nothing at cluster scope. */
export function namespaceAdminRules(namespaces: string[]): PolicyRule[] {
  return [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces }];
}

function matchesAny(list: string[] | undefined, value: string): boolean {
  if (!list) return false;
  return list.includes('*') || list.includes(value);
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

function nonResourceMatches(rule: PolicyRule, path: string): boolean {
  for (const p of rule.nonResourceURLs ?? []) {
    if (p === '*' || p === path) return true;
    if (p.endsWith('*') && path.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}

export function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  if (!matchesAny(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return !rule.namespaces && nonResourceMatches(rule, a.path);
  if (rule.nonResourceURLs && !rule.resources) return false;
  if (rule.namespaces) {
    if (!a.namespace || !rule.namespaces.includes(a.namespace)) return false;
  }
  if (!matchesAny(rule.apiGroups ?? [''], a.apiGroup)) return false;
  if (!resourceMatches(rule, a.resource, a.subresource)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) {
    if (!a.name || !rule.resourceNames.includes(a.name)) return false;
  }
  return true;
}

export class Authorizer {
  private readonly tokens = new Map<string, TokenEntry>();
  /** rules bound to a user name (like RoleBindings naming a ServiceAccount), for every token of that user */
  private readonly userRules = new Map<string, PolicyRule[]>();

  /** Replaces the rules bound to `user` (an empty list removes them). */
  bindRules(user: string, rules: PolicyRule[]): void {
    if (rules.length) this.userRules.set(user, rules);
    else this.userRules.delete(user);
  }

  addToken(entry: TokenEntry): void {
    this.tokens.set(entry.token, entry);
  }

  removeToken(token: string): void {
    this.tokens.delete(token);
  }

  authenticate(authorization: string | undefined): TokenEntry | undefined {
    if (!authorization) return undefined;
    const m = authorization.match(/^Bearer\s+(\S+)\s*$/i);
    if (!m) return undefined;
    const entry = this.tokens.get(m[1]);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.tokens.delete(m[1]);
      return undefined;
    }
    return entry;
  }

  rulesFor(entry: TokenEntry): PolicyRule[] {
    return [...DISCOVERY_RULES, ...entry.rules, ...(this.userRules.get(entry.user.name) ?? [])];
  }

  authorize(entry: TokenEntry, a: Attributes): boolean {
    return this.rulesFor(entry).some(r => ruleAllows(r, a));
  }

  /** The message the apiserver puts after "is forbidden: ". */
  static forbiddenReason(a: Attributes): string {
    if (!a.resourceRequest) return `User "${a.user.name}" cannot ${a.verb} path "${a.path}"`;
    const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    if (a.namespace) return `User "${a.user.name}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup}" in the namespace "${a.namespace}"`;
    return `User "${a.user.name}" cannot ${a.verb} resource "${res}" in API group "${a.apiGroup}" at the cluster scope`;
  }

  /** SelfSubjectRulesReview status for a namespace. */
  rulesReview(entry: TokenEntry, namespace: string): { resourceRules: unknown[]; nonResourceRules: unknown[]; incomplete: boolean } {
    const resourceRules: unknown[] = [];
    const nonResourceRules: unknown[] = [];
    for (const r of this.rulesFor(entry)) {
      if (r.namespaces && !r.namespaces.includes(namespace)) continue;
      if (r.nonResourceURLs && !r.resources) {
        nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
        continue;
      }
      const rr: Record<string, unknown> = { verbs: r.verbs, apiGroups: r.apiGroups ?? [''], resources: r.resources ?? [] };
      if (r.resourceNames?.length) rr.resourceNames = r.resourceNames;
      resourceRules.push(rr);
    }
    return { resourceRules, nonResourceRules, incomplete: false };
  }
}
