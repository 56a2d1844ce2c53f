/**
 * ServiceAccount tokens: the token controller of kube-controller-manager (legacy token Secrets)
 * and the TokenRequest subresource (`kubectl create token`).
 *
 * A Secret of type `kubernetes.io/service-account-token` whose
 * `kubernetes.io/service-account.name` annotation names an existing ServiceAccount gets
 * `data.token` (a JWT signed by this kube-sim), `data.ca.crt` (the serving CA, absent in http
 * mode), `data.namespace` and the `kubernetes.io/service-account.uid` annotation. A token Secret
 * whose ServiceAccount does not exist (or has another uid) is deleted, as is every token Secret
 * of a deleted ServiceAccount. Tokens authenticate as `system:serviceaccount:<ns>:<name>`
 * (groups `system:serviceaccounts`, `system:serviceaccounts:<ns>`, `system:authenticated`) and
 * are authorized by the rules bound to that user (`Authorizer.bindRules`, `sim.bindRules`).
 *
 * Like the serviceaccount controller and the root-ca-cert-publisher, every namespace gets a
 * `default` ServiceAccount (recreated when deleted) and a `kube-root-ca.crt` ConfigMap.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Authorizer } from './authz';
import { SERVICE_ACCOUNT_NAME_KEY, SERVICE_ACCOUNT_TOKEN_TYPE, SERVICE_ACCOUNT_UID_KEY } from './configObjects';
import { CONFIG_MAP, NAMESPACE, SECRET, SERVICE_ACCOUNT, type ResourceType } from './resources';
import { errors } from './status';
import { nowRfc3339, type Store, type StoreEvent } from './store';
import type { KObj } from './types';

/** The TokenRequest body type (authentication.k8s.io/v1), only ever a subresource's body. */
export const TOKEN_REQUEST: ResourceType = {
  group: 'authentication.k8s.io',
  version: 'v1',
  resource: 'tokenrequests',
  singular: 'tokenrequest',
  kind: 'TokenRequest',
  listKind: 'TokenRequestList',
  namespaced: true,
  verbs: ['create'],
  virtual: true,
};

const DEFAULT_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');

export function serviceAccountUser(namespace: string, name: string): { name: string; groups: string[] } {
  return { name: `system:serviceaccount:${namespace}:${name}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] };
}

export class TokenController {
  /** PEM of the serving CA, copied into token Secrets as `ca.crt` */
  caCert?: string;
  private readonly key = randomBytes(32);
  /** `<ns>/<secret>` → the token registered for it */
  private readonly secretTokens = new Map<string, string>();
  /** TokenRequest tokens by ServiceAccount uid */
  private readonly requestTokens = new Map<string, Set<string>>();

  constructor(
    private readonly store: Store,
    private readonly authz: Authorizer,
  ) {}

  /** Syncs the namespaces and Secrets already stored (fixture objects) and follows changes; returns the unsubscribe. */
  start(): () => void {
    for (const it of this.store.all(NAMESPACE)) this.syncNamespace(it.obj.metadata.name!, true);
    for (const it of this.store.all(SECRET)) this.syncSecret(it.obj.metadata.namespace!, it.obj.metadata.name!);
    return this.store.subscribe(ev => this.onEvent(ev));
  }

  /** The `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap of a live namespace. */
  private syncNamespace(namespace: string, initial = false): void {
    const ns = this.store.get(NAMESPACE, undefined, namespace)?.obj;
    if (!ns || ns.status?.phase === 'Terminating' || ns.metadata.deletionTimestamp) return;
    // fixture namespaces get objects as old as themselves, outside the watch history
    const opts = initial ? { record: false, keepTimestamps: true } : {};
    const creationTimestamp = initial ? ns.metadata.creationTimestamp : undefined;
    if (!this.store.get(SERVICE_ACCOUNT, namespace, 'default')) {
      this.store.create(SERVICE_ACCOUNT, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace, creationTimestamp } }, opts);
    }
    if (this.caCert && !this.store.get(CONFIG_MAP, namespace, 'kube-root-ca.crt')) {
      const metadata = { name: 'kube-root-ca.crt', namespace, creationTimestamp, annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } };
      this.store.create(CONFIG_MAP, { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { 'ca.crt': this.caCert } }, opts);
    }
  }

  private onEvent(ev: StoreEvent): void {
    const o = ev.item.obj;
    const ns = o.metadata.namespace!;
    if (ev.rid === 'secrets') {
      if (ev.type === 'DELETED') this.forget(`${ns}/${o.metadata.name}`);
      else setImmediate(() => this.syncSecret(ns, o.metadata.name!));
    } else if (ev.rid === 'serviceaccounts' && ev.type === 'DELETED') {
      setImmediate(() => {
        this.serviceAccountDeleted(o);
        if (o.metadata.name === 'default') this.syncNamespace(ns);
      });
    } else if (ev.rid === 'namespaces' && ev.type === 'ADDED') {
      setImmediate(() => this.syncNamespace(o.metadata.name!));
    } else if (ev.rid === 'configmaps' && ev.type === 'DELETED' && o.metadata.name === 'kube-root-ca.crt') {
      setImmediate(() => this.syncNamespace(ns));
    }
  }

  private sign(claims: Record<string, unknown>): string {
    const head = `${b64url(JSON.stringify({ alg: 'HS256', kid: 'kube-sim' }))}.${b64url(JSON.stringify(claims))}`;
    return `${head}.${b64url(createHmac('sha256', this.key).update(head).digest())}`;
  }

  /** True for a token this kube-sim signed (a Secret may carry a token someone else wrote). */
  private verify(token: string): boolean {
    const i = token.lastIndexOf('.');
    if (i < 0) return false;
    const want = createHmac('sha256', this.key).update(token.slice(0, i)).digest();
    const got = Buffer.from(token.slice(i + 1), 'base64url');
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private register(key: string, token: string, namespace: string, name: string): void {
    const old = this.secretTokens.get(key);
    if (old === token) return;
    if (old) this.authz.removeToken(old);
    this.secretTokens.set(key, token);
    if (this.verify(token)) this.authz.addToken({ token, user: serviceAccountUser(namespace, name), rules: [] });
  }

  private forget(key: string): void {
    const old = this.secretTokens.get(key);
    if (!old) return;
    this.authz.removeToken(old);
    this.secretTokens.delete(key);
  }

  private syncSecret(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const cur = this.store.get(SECRET, namespace, name)?.obj;
    if (!cur || cur.type !== SERVICE_ACCOUNT_TOKEN_TYPE) {
      this.forget(key);
      return;
    }
    const annotations = cur.metadata.annotations ?? {};
    const saName = annotations[SERVICE_ACCOUNT_NAME_KEY] ?? '';
    const sa = this.store.get(SERVICE_ACCOUNT, namespace, saName)?.obj;
    const uid = annotations[SERVICE_ACCOUNT_UID_KEY];
    if (!sa || (uid && uid !== sa.metadata.uid)) {
      // the controller deletes tokens of ServiceAccounts that do not exist
      this.forget(key);
      this.store.remove(SECRET, namespace, name);
      return;
    }
    const data = (cur.data ?? {}) as Record<string, string>;
    let token = data.token ? Buffer.from(data.token, 'base64').toString('utf8') : '';
    const needs = !token || !data.namespace || (this.caCert && !data['ca.crt']) || !uid;
    if (needs) {
      if (!token) {
        token = this.sign({
          iss: 'kubernetes/serviceaccount',
          'kubernetes.io/serviceaccount/namespace': namespace,
          'kubernetes.io/serviceaccount/secret.name': name,
          'kubernetes.io/serviceaccount/service-account.name': saName,
          'kubernetes.io/serviceaccount/service-account.uid': sa.metadata.uid,
          sub: serviceAccountUser(namespace, saName).name,
        });
      }
      const filled: Record<string, string> = { ...data, token: b64(token), namespace: b64(namespace) };
      if (this.caCert) filled['ca.crt'] = b64(this.caCert);
      this.store.mutate(SECRET, namespace, name, s => {
        s.data = filled;
        s.metadata.annotations = { ...(s.metadata.annotations ?? {}), [SERVICE_ACCOUNT_UID_KEY]: sa.metadata.uid! };
      });
    }
    this.register(key, token, namespace, saName);
  }

  private serviceAccountDeleted(sa: KObj): void {
    const ns = sa.metadata.namespace!;
    for (const it of this.store.all(SECRET, ns)) {
      const a = it.obj.metadata.annotations ?? {};
      if (it.obj.type === SERVICE_ACCOUNT_TOKEN_TYPE && a[SERVICE_ACCOUNT_NAME_KEY] === sa.metadata.name && (!a[SERVICE_ACCOUNT_UID_KEY] || a[SERVICE_ACCOUNT_UID_KEY] === sa.metadata.uid)) {
        this.store.remove(SECRET, ns, it.obj.metadata.name!);
      }
    }
    for (const t of this.requestTokens.get(sa.metadata.uid!) ?? []) this.authz.removeToken(t);
    this.requestTokens.delete(sa.metadata.uid!);
  }

  /** POST …/serviceaccounts/<name>/token: a bound token that expires (default one hour). */
  tokenRequest(namespace: string, name: string, request: KObj): object {
    const sa = this.store.get(SERVICE_ACCOUNT, namespace, name)?.obj;
    if (!sa) throw errors.notFound('', 'serviceaccounts', name);
    const spec = (request.spec ?? {}) as { audiences?: string[]; expirationSeconds?: number; boundObjectRef?: unknown };
    const expirationSeconds = spec.expirationSeconds ?? 3600;
    if (!Number.isInteger(expirationSeconds) || expirationSeconds < 600) {
      throw errors.invalid('authentication.k8s.io', 'TokenRequest', name, [{ field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes` }]);
    }
    if (expirationSeconds > 2 ** 32) {
      throw errors.invalid('authentication.k8s.io', 'TokenRequest', name, [{ field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds` }]);
    }
    const audiences = spec.audiences?.length ? spec.audiences : [DEFAULT_AUDIENCE];
    const now = Math.floor(Date.now() / 1000);
    const exp = now + expirationSeconds;
    const token = this.sign({
      aud: audiences,
      exp,
      iat: now,
      iss: DEFAULT_AUDIENCE,
      jti: randomUUID(),
      'kubernetes.io': { namespace, serviceaccount: { name, uid: sa.metadata.uid } },
      nbf: now,
      sub: serviceAccountUser(namespace, name).name,
    });
    this.authz.addToken({ token, user: serviceAccountUser(namespace, name), rules: [], expiresAt: exp * 1000 });
    const set = this.requestTokens.get(sa.metadata.uid!) ?? new Set<string>();
    set.add(token);
    this.requestTokens.set(sa.metadata.uid!, set);
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: nowRfc3339() },
      spec: { audiences, expirationSeconds, boundObjectRef: spec.boundObjectRef ?? null },
      status: { token, expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z') },
    };
  }
}
