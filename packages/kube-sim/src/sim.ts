/** startKubeSim: wires the store, authorizer, lifecycle, router and (HTTPS) server together. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, promises as fs, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_RULES, Authorizer, namespaceAdminRules, type PolicyRule } from './authz';
import { ensureTls } from './certs';
import { normalizeConfigObject } from './configObjects';
import type { SimContext, RequestLogEntry } from './context';
import { defaultPod } from './defaults';
import { EventRecorder } from './events';
import { FaultInjector, type FaultSpec } from './faults';
import { handleUpgrade } from './execRoute';
import { FixtureBuilder, stableSuffix } from './fixtures/build';
import { pinLocalVolumes, placePods, resolveFixture, type FixtureInput } from './fixtures/load';
import { generateFileTree, type FileTreeSpec } from './files';
import { buildKubeconfig } from './kubeconfig';
import { normalizeImage, PodLifecycle, type LifecycleOptions } from './podLifecycle';
import { PodSecurityAdmission, type PodSecurityExemptions } from './podSecurity';
import { findByKind, POD, PV, PVC, RESOURCE_TYPES, resourceId, STORAGE_CLASS } from './resources';
import { Router } from './router';
import { TokenController } from './serviceAccounts';
import { nowRfc3339, Store } from './store';
import type { KObj } from './types';
import { WatchHub } from './watch';
import { isWaitForFirstConsumer } from './volumeBinding';

export interface KubeSimOptions {
  /** `demo` (default), `scale`, a path to a YAML fixture, or a fixture object */
  fixture?: FixtureInput;
  /** 0 (default) picks a free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** default: a new temp dir, removed by stop() */
  dataDir?: string;
  /**
   * serve plain HTTP instead of HTTPS. kubectl sends no bearer token over plain HTTP, so in this
   * mode a request without Authorization acts as the admin (like `kubectl proxy`); a request with
   * a token is still authenticated and authorized as that token.
   */
  http?: boolean;
  /** delay from scheduling to Running (default 100 ms) */
  runningDelayMs?: number;
  /** how long a deleted pod stays Terminating at most (default 200 ms) */
  terminationDelayMs?: number;
  /** ErrImagePull → ImagePullBackOff delay and retry interval (default 300 ms) */
  backoffDelayMs?: number;
  /** also write the kubeconfig here (it is always written to <dataDir>/kubeconfig) */
  kubeconfigPath?: string;
  adminToken?: string;
  restrictedToken?: string;
  /** generate PV file trees (default true) */
  generateFiles?: boolean;
  /** PodSecurity exemptions (namespaces, usernames, runtimeClasses); overrides the fixture's */
  podSecurityExemptions?: PodSecurityExemptions;
}

export interface AddTokenOptions {
  /** user name in 403 messages, default system:serviceaccount:default:<prefix of token> */
  user?: string;
  groups?: string[];
}

export interface KubeSim {
  url: string;
  /** kubeconfig YAML: contexts kube-sim-admin (current) and kube-sim-restricted */
  kubeconfig: string;
  kubeconfigPath: string;
  adminToken: string;
  restrictedToken: string;
  /** namespaces the restricted token may use */
  restrictedNamespaces: string[];
  dataDir: string;
  /** PEM of the self-signed CA (undefined in http mode) */
  caCert?: string;
  /** adds (or replaces) a bearer token with RBAC-like rules */
  addToken(token: string, rules: PolicyRule[], opts?: AddTokenOptions): void;
  removeToken(token: string): void;
  /**
   * Binds rules to a user name, like RoleBindings/ClusterRoleBindings naming a subject: every
   * token of that user gets them, e.g. the token of a ServiceAccount token Secret
   * (`system:serviceaccount:<ns>:<name>`). An empty list removes the binding.
   */
  bindRules(user: string, rules: PolicyRule[]): void;
  /** a kubeconfig YAML for an arbitrary token (e.g. one added with addToken) */
  kubeconfigFor(token: string, namespace?: string): string;
  /** host directory backing a PV */
  pvDir(pvName: string): string;
  /** recent requests (method, url, status, user, audit annotations), oldest first */
  requestLog: RequestLogEntry[];
  /** number of list requests served per resource (`pods`, `persistentvolumeclaims`, `apps/deployments`, …) */
  listRequestCount(resource: string): number;
  /**
   * Makes matching requests slow or fail, e.g. `sim.addFault({ path: '/api/v1/namespaces/platform/', status: 500, times: 1 })`
   * or `sim.addFault({ path: /persistentvolumeclaims/, delayMs: 30_000 })`. Returns a function that removes it.
   */
  addFault(spec: FaultSpec): () => void;
  clearFaults(): void;
  /** forget pagination snapshots, so outstanding continue tokens get 410 Expired */
  expireContinueTokens(): void;
  /** direct access to stored objects (read-only use) */
  getObject(apiVersion: string, kind: string, namespace: string | undefined, name: string): KObj | undefined;
  stop(): Promise<void>;
}

const DEFAULT_RESTRICTED_USER = 'system:serviceaccount:kube-system:kube-sim-restricted';

export async function startKubeSim(options: KubeSimOptions = {}): Promise<KubeSim> {
  const fixture = await resolveFixture(options.fixture ?? 'demo');
  const ownDataDir = !options.dataDir;
  const dataDir = path.resolve(options.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'kube-sim-'))));
  mkdirSync(path.join(dataDir, 'pvs'), { recursive: true });

  const store = new Store(RESOURCE_TYPES);
  const authz = new Authorizer();
  const recorder = new EventRecorder(store);
  const images = new Set<string>();
  const lifecycleOptions: LifecycleOptions = {
    runningDelayMs: options.runningDelayMs ?? 100,
    terminationDelayMs: options.terminationDelayMs ?? 200,
    backoffDelayMs: options.backoffDelayMs ?? 300,
    images,
  };
  const lifecycle = new PodLifecycle(store, recorder, lifecycleOptions);
  for (const img of fixture.images ?? []) images.add(normalizeImage(img));
  const watches = new WatchHub(store);
  let address = '127.0.0.1:0';
  const requestLog: RequestLogEntry[] = [];
  const pvDir = (pv: string) => path.join(dataDir, 'pvs', pv);
  const ctx: SimContext = {
    store,
    authz,
    lifecycle,
    recorder,
    watches,
    dataDir,
    serverAddress: () => address,
    requestLog,
    faults: new FaultInjector(),
    podSecurity: new PodSecurityAdmission(options.podSecurityExemptions ?? fixture.podSecurityExemptions),
    tokens: new TokenController(store, authz),
    ensurePvDir: pv => mkdirSync(pvDir(pv), { recursive: true }),
    removePvDir: pv => rmSync(pvDir(pv), { recursive: true, force: true }),
  };

  // tokens
  const adminToken = options.adminToken ?? fixture.tokens?.admin?.token ?? `kube-sim-admin-${randomBytes(16).toString('hex')}`;
  const restrictedToken = options.restrictedToken ?? fixture.tokens?.restricted?.token ?? `kube-sim-restricted-${randomBytes(16).toString('hex')}`;
  const restrictedNamespaces = fixture.tokens?.restricted?.namespaces ?? [];
  authz.addToken({
    token: adminToken,
    user: { name: fixture.tokens?.admin?.user ?? 'kube-sim-admin', groups: fixture.tokens?.admin?.groups ?? ['system:masters', 'system:authenticated'] },
    rules: fixture.tokens?.admin?.rules ?? ADMIN_RULES,
  });
  authz.addToken({
    token: restrictedToken,
    user: { name: fixture.tokens?.restricted?.user ?? DEFAULT_RESTRICTED_USER, groups: fixture.tokens?.restricted?.groups ?? ['system:serviceaccounts', 'system:authenticated'] },
    rules: [...namespaceAdminRules(restrictedNamespaces), ...(fixture.tokens?.restricted?.rules ?? [])],
  });
  if (options.http) ctx.anonymous = authz.authenticate(`Bearer ${adminToken}`);
  for (const t of fixture.tokens?.extra ?? []) {
    authz.addToken({ token: t.token, user: { name: t.user, groups: t.groups ?? ['system:authenticated'] }, rules: [...(t.namespaces ? namespaceAdminRules(t.namespaces) : []), ...(t.rules ?? [])] });
  }

  // objects
  const created = nowRfc3339(new Date(Date.now() - 2 * 24 * 3600 * 1000));
  const built = new FixtureBuilder(fixture, created, { withFiles: options.generateFiles !== false }).build();
  pinLocalVolumes(built, placePods(built));
  const load = (apiVersion: string, kind: string, o: KObj) => {
    const t = findByKind(apiVersion, kind);
    if (!t) throw new Error(`kube-sim fixture: unsupported kind ${apiVersion} ${kind}`);
    o.apiVersion = apiVersion;
    o.kind = kind;
    return store.create(t, o, { record: false, keepTimestamps: true });
  };
  for (const n of built.nodes) load('v1', 'Node', n);
  for (const n of built.namespaces) load('v1', 'Namespace', n);
  for (const sc of built.storageClasses) load('storage.k8s.io/v1', 'StorageClass', sc);
  for (const pv of built.pvs) load('v1', 'PersistentVolume', pv);
  for (const pvc of built.pvcs) load('v1', 'PersistentVolumeClaim', pvc);
  for (const w of built.workloads) load(w.apiVersion!, w.kind!, w);
  for (const p of built.pods) {
    defaultPod(p, stableSuffix(`tok/${p.metadata.uid}`, 5));
    p.status = lifecycle.runningStatus(p, created);
    load('v1', 'Pod', p);
  }
  for (const o of built.raw) {
    if (!o.metadata?.name) throw new Error('kube-sim fixture: raw object without metadata.name');
    // a fixture Secret's stringData is merged into data, as on any write
    const t = findByKind(o.apiVersion ?? 'v1', o.kind ?? '');
    if (t) normalizeConfigObject(t, o);
    load(o.apiVersion ?? 'v1', o.kind ?? '', o);
  }

  // PV data
  // generated trees are idempotent (the generator keeps a marker next to each tree and rebuilds
  // a tree that is missing or was built from another spec); other PVs get an empty directory
  const withTree = new Set(built.trees.map(t => t.pv));
  for (const t of built.trees) await generateFileTree(t.spec as FileTreeSpec, pvDir(t.pv));
  for (const pv of store.all(PV)) if (!withTree.has(pv.obj.metadata.name!)) mkdirSync(pvDir(pv.obj.metadata.name!), { recursive: true });

  const router = new Router(ctx);
  lifecycleOptions.bindClaim = (pvc, node) => router.resources.bindClaim(pvc, node);
  // the PV controller has seen the fixture's Pending WaitForFirstConsumer claims (their event)
  for (const pvc of store.all(PVC)) {
    const className = pvc.obj.spec?.storageClassName;
    if (pvc.obj.status?.phase === 'Pending' && className && isWaitForFirstConsumer(store.get(STORAGE_CLASS, undefined, className)?.obj)) router.resources.bindClaim(pvc.obj);
  }
  // pvc-protection: finish deleting claims once their last pod is gone
  const unsubscribe = store.subscribe(ev => {
    if (ev.type === 'DELETED' && ev.rid === resourceId(POD)) {
      const ns = ev.item.obj.metadata.namespace!;
      setImmediate(() => router.resources.finishTerminatingClaims(ns));
      // the garbage collector: objects owned by the pod (e.g. a Secret or ConfigMap) go with it
      router.resources.collectDependents(ev.item.obj);
    }
  });

  // server
  let tls: Awaited<ReturnType<typeof ensureTls>> | undefined;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => router.handle(req, res);
  let server: http.Server;
  if (options.http) server = http.createServer(handler);
  else {
    tls = await ensureTls(path.join(dataDir, 'tls'));
    server = https.createServer({ key: tls.key, cert: tls.cert }, handler);
  }
  ctx.tokens.caCert = tls?.caCert;
  const stopTokens = ctx.tokens.start();
  server.keepAliveTimeout = 65_000;
  const sockets = new Set<net.Socket>();
  server.on(options.http ? 'connection' : 'secureConnection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => handleUpgrade(ctx, req, socket, head));
  server.on('clientError', (_err, socket) => socket.destroy());
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  address = `${host}:${port}`;
  const url = `${options.http ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const kubeconfig = buildKubeconfig({ server: url, caCert: tls?.caCert, adminToken, restrictedToken, restrictedNamespace: restrictedNamespaces[0] });
  const kubeconfigPath = path.join(dataDir, 'kubeconfig');
  await fs.writeFile(kubeconfigPath, kubeconfig, { mode: 0o600 });
  if (options.kubeconfigPath) {
    await fs.mkdir(path.dirname(path.resolve(options.kubeconfigPath)), { recursive: true });
    await fs.writeFile(options.kubeconfigPath, kubeconfig, { mode: 0o600 });
  }

  let stopped = false;
  return {
    url,
    kubeconfig,
    kubeconfigPath,
    adminToken,
    restrictedToken,
    restrictedNamespaces,
    dataDir,
    caCert: tls?.caCert,
    requestLog,
    addToken(token, rules, opts = {}) {
      authz.addToken({ token, user: { name: opts.user ?? `system:serviceaccount:default:${token.slice(0, 12)}`, groups: opts.groups ?? ['system:serviceaccounts', 'system:authenticated'] }, rules });
    },
    removeToken(token) {
      authz.removeToken(token);
    },
    bindRules(user, rules) {
      authz.bindRules(user, rules);
    },
    kubeconfigFor(token, namespace) {
      const cfg = buildKubeconfig({ server: url, caCert: tls?.caCert, adminToken: token, restrictedToken: token, restrictedNamespace: namespace });
      return namespace ? cfg.replace('current-context: kube-sim-admin', 'current-context: kube-sim-restricted') : cfg;
    },
    pvDir,
    listRequestCount(resource) {
      return store.listRequests.get(resource) ?? 0;
    },
    addFault(spec) {
      return ctx.faults.add(spec);
    },
    clearFaults() {
      ctx.faults.clear();
    },
    expireContinueTokens() {
      store.expireSnapshots();
    },
    getObject(apiVersion, kind, namespace, name) {
      const t = findByKind(apiVersion, kind);
      return t ? store.get(t, namespace, name)?.obj : undefined;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
      stopTokens();
      lifecycle.stop();
      watches.closeAll();
      const closed = new Promise<void>(resolve => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
      await closed;
      if (ownDataDir && existsSync(dataDir)) await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
