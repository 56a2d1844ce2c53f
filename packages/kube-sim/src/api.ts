/** Resource verbs: get, list, watch, create, update, patch, delete, deletecollection. */
import type http from 'node:http';
import type { Attributes, TokenEntry } from './authz';
import { normalizeConfigObject, validateConfigObjectUpdate } from './configObjects';
import type { SimContext } from './context';
import { defaultNamespace, defaultPod, defaultPvc, defaultWorkload } from './defaults';
import { addAuditAnnotations, addWarnings, boolParam, negotiate, parseJsonBody, readBody, sendJson } from './http';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch';
import { PodLifecycle } from './podLifecycle';
import { decodeProtobufObject, isProtobuf } from './protobuf';
import type { RequestInfo } from './requestInfo';
import { apiVersionOf, CONFIG_MAP, findResource, NAMESPACE, NODE, POD, PV, PVC, SECRET, SERVICE_ACCOUNT, STORAGE_CLASS, type ResourceType } from './resources';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors';
import { TOKEN_REQUEST } from './serviceAccounts';
import { errors, successStatus } from './status';
import { jsonOf, nowRfc3339, type StoredItem } from './store';
import { tableJson, tableRowJson, type IncludeObject } from './tables';
import type { KObj } from './types';
import { validateForCreate, validateForUpdate } from './validation';
import { defaultLocalNode, isNodeLocalClass, isWaitForFirstConsumer, NO_PROVISIONER, provisionerIdentity, pvFitsNode, pvMatchesClaim, SELECTED_NODE } from './volumeBinding';
import { stringify as toYaml } from 'yaml';

export class ResourceApi {
  constructor(private readonly ctx: SimContext) {}

  async handle(info: RequestInfo, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse, caller: TokenEntry): Promise<void> {
    const type = info.type!;
    if (type.virtual) {
      if (info.verb !== 'create') throw errors.methodNotAllowed(req.method ?? '');
      return this.accessReview(type, req, res, caller);
    }
    if (type === SERVICE_ACCOUNT && info.subresource === 'token') {
      if (info.verb !== 'create') throw errors.methodNotAllowed(req.method ?? '');
      return this.tokenRequest(info, req, res);
    }
    if (info.subresource && info.subresource !== 'status') {
      throw errors.pathNotFound();
    }
    if (!type.namespaced && info.resource !== 'namespaces' && info.namespace) throw errors.pathNotFound();
    const ns = type.namespaced ? info.namespace : undefined;
    switch (info.verb) {
      case 'get':
        return this.get(type, ns, info.name, query, req, res);
      case 'list':
        return this.list(type, ns, query, req, res);
      case 'watch':
        return this.watch(type, ns, info.name, query, req, res);
      case 'create':
        if (info.name) throw errors.methodNotAllowed('POST');
        return this.create(type, ns, query, req, res, caller);
      case 'update':
        return this.update(type, ns, info, query, req, res, caller);
      case 'patch':
        return this.patch(type, ns, info, query, req, res, caller);
      case 'delete':
        return this.delete(type, ns, info.name, query, req, res);
      case 'deletecollection':
        return this.deleteCollection(type, ns, query, req, res);
      default:
        throw errors.methodNotAllowed(req.method ?? '');
    }
  }

  private respondObject(type: ResourceType, item: StoredItem, code: number, req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams): void {
    const neg = negotiate(req.headers.accept);
    if (!neg.acceptable) throw errors.notAcceptable();
    if (neg.table) {
      const include = (query.get('includeObject') as IncludeObject) || 'Metadata';
      const row = tableRowJson(type, item.obj, jsonOf(item), include, Date.now());
      sendJson(res, code, tableJson(type, [row], { resourceVersion: '' }), 'application/json;as=Table;v=v1;g=meta.k8s.io');
      return;
    }
    if (neg.yaml) {
      sendJson(res, code, toYaml(item.obj), 'application/yaml');
      return;
    }
    sendJson(res, code, jsonOf(item));
  }

  private get(type: ResourceType, ns: string | undefined, name: string, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): void {
    const item = this.ctx.store.get(type, ns, name);
    if (!item) throw errors.notFound(type.group, type.resource, name);
    this.respondObject(type, item, 200, req, res, query);
  }

  private filterFor(type: ResourceType, query: URLSearchParams): { filter?: (o: KObj) => boolean; filtered: boolean } {
    const labels = parseLabelSelector(query.get('labelSelector') ?? undefined);
    const fields = parseFieldSelector(query.get('fieldSelector') ?? undefined, type.resource);
    if (!labels.length && !fields.length) return { filtered: false };
    return { filtered: true, filter: o => matchesLabels(labels, o.metadata.labels) && matchesFields(fields, type.resource, o) };
  }

  private list(type: ResourceType, ns: string | undefined, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): void {
    const neg = negotiate(req.headers.accept);
    if (!neg.acceptable) throw errors.notAcceptable();
    const { filter, filtered } = this.filterFor(type, query);
    const limitRaw = query.get('limit');
    const limit = limitRaw ? Number(limitRaw) : 0;
    if (limitRaw && !Number.isFinite(limit)) throw errors.badRequest(`invalid limit: ${limitRaw}`);
    const result = this.ctx.store.list(type, {
      namespace: ns,
      limit,
      continueToken: query.get('continue') ?? undefined,
      filter,
      filtered,
    });
    const meta = { resourceVersion: String(result.resourceVersion), continueToken: result.continueToken, remainingItemCount: result.remainingItemCount };
    if (neg.table) {
      const include = (query.get('includeObject') as IncludeObject) || 'Metadata';
      const now = Date.now();
      const rows = result.items.map(it => tableRowJson(type, it.obj, include === 'Object' ? jsonOf(it) : '', include, now));
      sendJson(res, 200, tableJson(type, rows, meta), 'application/json;as=Table;v=v1;g=meta.k8s.io');
      return;
    }
    const m: Record<string, unknown> = { resourceVersion: meta.resourceVersion };
    if (meta.continueToken) m.continue = meta.continueToken;
    if (meta.remainingItemCount !== undefined) m.remainingItemCount = meta.remainingItemCount;
    const body = `{"kind":"${type.listKind}","apiVersion":"${apiVersionOf(type)}","metadata":${JSON.stringify(m)},"items":[${result.items.map(jsonOf).join(',')}]}`;
    if (neg.yaml) {
      sendJson(res, 200, toYaml(JSON.parse(body)), 'application/yaml');
      return;
    }
    sendJson(res, 200, body);
  }

  private watch(type: ResourceType, ns: string | undefined, name: string, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): void {
    const neg = negotiate(req.headers.accept);
    if (!neg.acceptable) throw errors.notAcceptable();
    const { filter } = this.filterFor(type, query);
    const timeout = query.get('timeoutSeconds');
    this.ctx.watches.serve(
      type,
      {
        namespace: ns,
        name: name || undefined,
        resourceVersion: query.get('resourceVersion') ?? undefined,
        filter: filter ?? (() => true),
        timeoutSeconds: timeout ? Number(timeout) : undefined,
        allowBookmarks: boolParam(query.get('allowWatchBookmarks')),
        sendInitialEvents: boolParam(query.get('sendInitialEvents')),
        table: neg.table,
        includeObject: (query.get('includeObject') as IncludeObject) || 'Metadata',
      },
      req,
      res,
    );
  }

  private async readObject(type: ResourceType, req: http.IncomingMessage): Promise<KObj> {
    const raw = await readBody(req);
    const body = isProtobuf(req.headers['content-type'], raw) ? decodeProtobufObject(raw) : parseJsonBody(raw, req.headers['content-type']);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.badRequest("Object 'Kind' is missing in request body");
    const obj = body as KObj;
    if (obj.kind && obj.kind !== type.kind) {
      throw errors.badRequest(`the kind in the request body (${obj.kind}) does not match the kind of the resource (${type.kind})`);
    }
    if (obj.apiVersion && obj.apiVersion !== apiVersionOf(type)) {
      throw errors.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(type)})`);
    }
    const { kind: _k, apiVersion: _a, metadata, ...rest } = obj;
    void _k;
    void _a;
    return { kind: type.kind, apiVersion: apiVersionOf(type), metadata: metadata && typeof metadata === 'object' ? metadata : {}, ...rest };
  }

  private checkNamespace(type: ResourceType, ns: string | undefined, obj: KObj): void {
    if (!type.namespaced) {
      delete obj.metadata.namespace;
      return;
    }
    if (obj.metadata.namespace && obj.metadata.namespace !== ns) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    obj.metadata.namespace = ns;
  }

  private async create(type: ResourceType, ns: string | undefined, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse, caller: TokenEntry): Promise<void> {
    const obj = await this.readObject(type, req);
    this.checkNamespace(type, ns, obj);
    normalizeConfigObject(type, obj);
    const md = obj.metadata;
    if (!md.name && md.generateName) md.name = `${md.generateName}${PodLifecycle.suffix(5)}`;
    for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink']) delete md[k];
    validateForCreate(type, obj);
    if (type.namespaced) {
      const nsObj = this.ctx.store.get(NAMESPACE, undefined, ns!);
      if (!nsObj) throw errors.notFound('', 'namespaces', ns!);
      if (nsObj.obj.status?.phase === 'Terminating') {
        throw errors.forbidden(type.group, type.resource, md.name!, `unable to create new content in namespace ${ns} because it is being terminated`);
      }
    }
    this.applyDefaults(type, obj);
    this.admitPodSecurity(type, '', obj, undefined, caller, res);
    const dryRun = query.getAll('dryRun').includes('All');
    if (dryRun) {
      if (this.ctx.store.get(type, ns, md.name!)) throw errors.alreadyExists(type.group, type.resource, md.name!);
      sendJson(res, 201, JSON.stringify({ ...obj, metadata: { ...md, uid: '00000000-0000-0000-0000-000000000000', creationTimestamp: nowRfc3339() } }));
      return;
    }
    const item = this.ctx.store.create(type, obj);
    this.afterCreate(type, item);
    this.respondObject(type, this.ctx.store.get(type, ns, md.name!) ?? item, 201, req, res, query);
  }

  /** PodSecurity admission (podSecurity.ts): records its audit annotations, sends its warnings, throws its 403/422. */
  private admitPodSecurity(type: ResourceType, subresource: string, obj: KObj, old: KObj | undefined, caller: TokenEntry, res: http.ServerResponse): void {
    const store = this.ctx.store;
    const { error, warnings, annotations } = this.ctx.podSecurity.review({
      group: type.group,
      resource: type.resource,
      subresource,
      obj,
      old,
      user: caller.user.name,
      namespaceLabels: name => store.get(NAMESPACE, undefined, name)?.obj.metadata.labels,
      pods: name => store.all(POD, name).map(it => it.obj),
    });
    addAuditAnnotations(res, annotations);
    addWarnings(res, warnings);
    if (error) throw error;
  }

  private applyDefaults(type: ResourceType, obj: KObj): void {
    switch (type.resource) {
      case 'pods':
        defaultPod(obj);
        break;
      case 'persistentvolumeclaims':
        defaultPvc(obj, this.defaultStorageClass());
        break;
      case 'namespaces':
        defaultNamespace(obj);
        break;
      case 'persistentvolumes':
        obj.status = { phase: obj.spec?.claimRef ? 'Bound' : 'Available' };
        obj.spec = { persistentVolumeReclaimPolicy: 'Retain', volumeMode: 'Filesystem', ...obj.spec };
        break;
      case 'deployments':
      case 'replicasets':
      case 'statefulsets':
      case 'daemonsets':
      case 'jobs':
      case 'cronjobs':
        defaultWorkload(obj);
        break;
      default:
    }
  }

  private defaultStorageClass(): string | undefined {
    const d = this.ctx.store.all(STORAGE_CLASS).find(sc => sc.obj.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true');
    return d?.obj.metadata.name;
  }

  afterCreate(type: ResourceType, item: StoredItem): void {
    if (type.resource === 'pods') this.ctx.lifecycle.onCreated(item);
    if (type.resource === 'persistentvolumeclaims') this.bindClaim(item.obj);
    if (type.resource === 'persistentvolumes') this.ctx.ensurePvDir(item.obj.metadata.name!);
  }

  /**
   * The PV controller and the external provisioner: bind a new claim to a matching Available PV
   * or provision one. Claims of a WaitForFirstConsumer class wait until the scheduler picks a node
   * for a pod using them (`selectedNode`); the claim then gets the scheduler's
   * `volume.kubernetes.io/selected-node` annotation and, for a node-local class, a PV with that
   * node's affinity. Node-local PVs of Immediate claims go to `defaultLocalNode`.
   */
  bindClaim(pvc: KObj, selectedNode?: string): void {
    const store = this.ctx.store;
    const ns = pvc.metadata.namespace!;
    const name = pvc.metadata.name!;
    const className: string | undefined = pvc.spec.storageClassName;
    const sc = className ? store.get(STORAGE_CLASS, undefined, className)?.obj : undefined;
    const node = selectedNode ? store.get(NODE, undefined, selectedNode)?.obj : undefined;
    if (!pvc.spec.volumeName && isWaitForFirstConsumer(sc) && !node) {
      this.ctx.recorder.record(pvc, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding', { component: 'persistentvolume-controller' });
      return;
    }
    let pv: KObj | undefined;
    let provisioner: string | undefined;
    if (pvc.spec.volumeName) {
      pv = store.get(PV, undefined, pvc.spec.volumeName)?.obj;
    } else {
      pv = store
        .all(PV)
        .map(i => i.obj)
        .find(p => pvMatchesClaim(p, pvc) && (!node || pvFitsNode(p, node)));
    }
    if (!pv && className) {
      if (!sc) {
        this.ctx.recorder.record(pvc, 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${className}" not found`, { component: 'persistentvolume-controller' });
        return;
      }
      provisioner = String((sc as { provisioner?: string }).provisioner ?? '');
      if (provisioner === NO_PROVISIONER) {
        this.ctx.recorder.record(pvc, 'Warning', 'ProvisioningFailed', `no volume plugin matched name: ${NO_PROVISIONER}`, { component: 'persistentvolume-controller' });
        return;
      }
      const identity = provisionerIdentity(provisioner);
      this.ctx.recorder.record(
        pvc,
        'Normal',
        'ExternalProvisioning',
        `Waiting for a volume to be created either by the external provisioner '${provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`,
        { component: 'persistentvolume-controller' },
      );
      this.ctx.recorder.record(pvc, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${ns}/${name}"`, { component: identity });
      const onNode = node ?? (isNodeLocalClass(sc) ? defaultLocalNode(store.all(NODE).map(i => i.obj)) : undefined);
      const created = store.create(PV, PodLifecycle.pvForClaim(pvc, sc, onNode));
      this.ctx.ensurePvDir(created.obj.metadata.name!);
      pv = created.obj;
      this.ctx.recorder.record(pvc, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${pv.metadata.name}`, { component: identity });
    }
    if (!pv) {
      this.ctx.recorder.record(pvc, 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set', { component: 'persistentvolume-controller' });
      return;
    }
    const pvName = pv.metadata.name!;
    store.mutate(PV, undefined, pvName, p => {
      p.spec.claimRef = { kind: 'PersistentVolumeClaim', namespace: ns, name, uid: pvc.metadata.uid, apiVersion: 'v1', resourceVersion: pvc.metadata.resourceVersion };
      p.status = { phase: 'Bound' };
    });
    store.mutate(PVC, ns, name, c => {
      c.spec.volumeName = pvName;
      const annotations: Record<string, string> = { ...(c.metadata.annotations ?? {}), 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' };
      if (provisioner) {
        annotations['volume.beta.kubernetes.io/storage-provisioner'] = provisioner;
        annotations['volume.kubernetes.io/storage-provisioner'] = provisioner;
        if (node) annotations[SELECTED_NODE] = node.metadata.name!;
      }
      c.metadata.annotations = annotations;
      c.metadata.finalizers = [...new Set([...(c.metadata.finalizers ?? []), 'kubernetes.io/pvc-protection'])];
      c.status = { phase: 'Bound', accessModes: pv!.spec.accessModes, capacity: { storage: pv!.spec.capacity?.storage ?? c.spec.resources.requests.storage } };
    });
  }

  private async update(type: ResourceType, ns: string | undefined, info: RequestInfo, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse, caller: TokenEntry): Promise<void> {
    const obj = await this.readObject(type, req);
    this.checkNamespace(type, ns, obj);
    const cur = this.ctx.store.get(type, ns, info.name);
    if (obj.metadata.name && obj.metadata.name !== info.name) {
      throw errors.badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${info.name})`);
    }
    obj.metadata.name = info.name;
    if (!cur) throw errors.notFound(type.group, type.resource, info.name);
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== cur.obj.metadata.resourceVersion) {
      throw errors.conflict(type.group, type.resource, info.name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const next = this.mergeForUpdate(type, cur.obj, obj, info.subresource === 'status');
    validateForUpdate(type, next);
    this.admitPodSecurity(type, info.subresource, next, cur.obj, caller, res);
    const item = this.ctx.store.update(type, next);
    this.respondObject(type, item, 200, req, res, query);
  }

  /** Keeps server-owned parts: status on the main resource, everything but status on /status. */
  private mergeForUpdate(type: ResourceType, cur: KObj, incoming: KObj, statusOnly: boolean): KObj {
    if (statusOnly) return { ...structuredClone(cur), status: incoming.status };
    const next: KObj = { ...incoming, metadata: { ...incoming.metadata } };
    next.metadata.uid = cur.metadata.uid;
    next.metadata.creationTimestamp = cur.metadata.creationTimestamp;
    if (cur.metadata.deletionTimestamp) next.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
    if (type.subresources?.some(s => s.name === 'status') || type.resource === 'namespaces') next.status = cur.status;
    if (type.resource === 'pods') {
      next.spec = { ...next.spec, nodeName: cur.spec?.nodeName ?? next.spec?.nodeName };
      if (!next.spec.nodeName) delete next.spec.nodeName;
      checkPodSpecUpdate(cur, next);
    }
    if (JSON.stringify(next.spec) !== JSON.stringify(cur.spec) && typeof cur.metadata.generation === 'number') next.metadata.generation = cur.metadata.generation + 1;
    normalizeConfigObject(type, next);
    validateConfigObjectUpdate(type, cur, next);
    return next;
  }

  private async patch(type: ResourceType, ns: string | undefined, info: RequestInfo, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse, caller: TokenEntry): Promise<void> {
    const ct = String(req.headers['content-type'] ?? '').split(';')[0].trim();
    const raw = await readBody(req);
    const cur = this.ctx.store.get(type, ns, info.name);
    if (!cur) throw errors.notFound(type.group, type.resource, info.name);
    let patch: unknown;
    try {
      patch = parseJsonBody(raw, ct.includes('yaml') ? 'application/yaml' : 'application/json');
    } catch {
      throw errors.badRequest('error decoding patch: invalid JSON');
    }
    let patched: unknown;
    switch (ct) {
      case 'application/merge-patch+json':
      case 'application/apply-patch+yaml':
        patched = mergePatch(cur.obj, patch);
        break;
      case 'application/strategic-merge-patch+json':
        patched = strategicMergePatch(cur.obj, patch);
        break;
      case 'application/json-patch+json':
        patched = jsonPatch(cur.obj, patch);
        break;
      default:
        throw errors.unsupportedMediaType();
    }
    const obj = patched as KObj;
    if (!obj || typeof obj !== 'object' || !obj.metadata) throw errors.badRequest('patch removed metadata');
    if (obj.metadata.name !== info.name) throw errors.badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${info.name})`);
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== cur.obj.metadata.resourceVersion) {
      throw errors.conflict(type.group, type.resource, info.name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const next = this.mergeForUpdate(type, cur.obj, obj, info.subresource === 'status');
    validateForUpdate(type, next);
    this.admitPodSecurity(type, info.subresource, next, cur.obj, caller, res);
    if (query.getAll('dryRun').includes('All')) {
      sendJson(res, 200, JSON.stringify(next));
      return;
    }
    const item = JSON.stringify(next) === jsonOf(cur) ? cur : this.ctx.store.update(type, next);
    this.respondObject(type, item, 200, req, res, query);
  }

  private async deleteOptions(req: http.IncomingMessage, query: URLSearchParams): Promise<{ grace?: number; propagation?: string; dryRun: boolean; preconditions?: { uid?: string; resourceVersion?: string } }> {
    const raw = await readBody(req);
    let body: Record<string, unknown> = {};
    if (raw.length) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw errors.badRequest('error decoding DeleteOptions');
      }
    }
    const gq = query.get('gracePeriodSeconds');
    let grace: number | undefined;
    if (gq !== null) grace = Number(gq);
    else if (typeof body.gracePeriodSeconds === 'number') grace = body.gracePeriodSeconds;
    const propagation = query.get('propagationPolicy') ?? (body.propagationPolicy as string | undefined);
    const dryRun = query.getAll('dryRun').includes('All') || (Array.isArray(body.dryRun) && body.dryRun.includes('All'));
    return { grace, propagation, dryRun, preconditions: body.preconditions as { uid?: string; resourceVersion?: string } | undefined };
  }

  private async delete(type: ResourceType, ns: string | undefined, name: string, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const opts = await this.deleteOptions(req, query);
    const cur = this.ctx.store.get(type, ns, name);
    if (!cur) throw errors.notFound(type.group, type.resource, name);
    if (opts.preconditions?.uid && opts.preconditions.uid !== cur.obj.metadata.uid) {
      throw errors.conflict(type.group, type.resource, name, `Precondition failed: UID in precondition: ${opts.preconditions.uid}, UID in object meta: ${cur.obj.metadata.uid}`);
    }
    if (opts.dryRun) {
      this.respondObject(type, cur, 200, req, res, query);
      return;
    }
    const out = this.deleteObject(type, cur, opts.grace, opts.propagation);
    if (out) this.respondObject(type, out, 200, req, res, query);
    else if (type.resource === 'pods') this.respondObject(type, cur, 200, req, res, query);
    else {
      const details: Record<string, string> = { name, kind: type.resource, uid: cur.obj.metadata.uid! };
      if (type.group) details.group = type.group;
      sendJson(res, 200, successStatus(details));
    }
  }

  /** Deletes one object; returns the object still present (graceful) or undefined when removed. */
  deleteObject(type: ResourceType, cur: StoredItem, grace: number | undefined, propagation?: string): StoredItem | undefined {
    const store = this.ctx.store;
    const o = cur.obj;
    if (type.resource === 'pods') return this.ctx.lifecycle.deletePod(cur, grace);
    if (type.resource === 'namespaces') return this.deleteNamespace(cur);
    if (type.resource === 'persistentvolumeclaims' || ((o.metadata.finalizers ?? []).length && type.resource === 'persistentvolumes')) {
      // kubernetes.io/pvc-protection and pv-protection: the object is marked and returned; the
      // controller removes it once nothing uses it (at once for an unused claim or volume)
      const updated = store.mutate(type, o.metadata.namespace, o.metadata.name!, c => {
        c.metadata.deletionTimestamp ??= nowRfc3339();
        c.metadata.deletionGracePeriodSeconds = 0;
      });
      setImmediate(() => {
        if (type.resource === 'persistentvolumeclaims') this.finishTerminatingClaims(o.metadata.namespace!);
        else {
          const live = store.get(type, undefined, o.metadata.name!);
          if (live?.obj.metadata.deletionTimestamp && live.obj.status?.phase !== 'Bound') {
            store.remove(type, undefined, o.metadata.name!);
            if (o.metadata.annotations?.['pv.kubernetes.io/provisioned-by']) this.ctx.removePvDir(o.metadata.name!);
          }
        }
      });
      return updated;
    }
    store.remove(type, o.metadata.namespace, o.metadata.name!);
    if (type.resource === 'persistentvolumes' && o.metadata.annotations?.['pv.kubernetes.io/provisioned-by']) this.ctx.removePvDir(o.metadata.name!);
    if (propagation !== 'Orphan') this.collectDependents(o);
    return undefined;
  }

  /** A claim went away: Delete-policy volumes are deleted, Retain volumes become Released. */
  releaseVolume(pvc: KObj): void {
    const pvName = pvc.spec?.volumeName;
    if (!pvName) return;
    const pv = this.ctx.store.get(PV, undefined, pvName);
    if (!pv || pv.obj.spec?.claimRef?.uid !== pvc.metadata.uid) return;
    if (pv.obj.spec?.persistentVolumeReclaimPolicy === 'Delete' || pv.obj.metadata.deletionTimestamp) {
      this.ctx.store.remove(PV, undefined, pvName);
      if (pv.obj.metadata.annotations?.['pv.kubernetes.io/provisioned-by']) this.ctx.removePvDir(pvName);
    } else {
      this.ctx.store.mutate(PV, undefined, pvName, p => {
        p.status = { phase: 'Released' };
      });
    }
  }

  /** PVCs being deleted whose last user pod is gone finish deleting (pvc-protection). */
  finishTerminatingClaims(namespace: string): void {
    for (const it of this.ctx.store.all(PVC, namespace)) {
      if (!it.obj.metadata.deletionTimestamp) continue;
      const users = this.ctx.lifecycle.podsUsingClaim(namespace, it.obj.metadata.name!).filter(p => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
      if (!users.length) {
        this.ctx.store.remove(PVC, namespace, it.obj.metadata.name!);
        this.releaseVolume(it.obj);
      }
    }
  }

  /** Background garbage collection of objects owned by `owner`. */
  collectDependents(owner: KObj): void {
    const uid = owner.metadata.uid;
    const ns = owner.metadata.namespace;
    setImmediate(() => {
      const dependentTypes = [findResource('', 'v1', 'pods')!, findResource('apps', 'v1', 'replicasets')!, findResource('batch', 'v1', 'jobs')!, findResource('', 'v1', 'persistentvolumeclaims')!, SECRET, CONFIG_MAP, SERVICE_ACCOUNT];
      for (const type of dependentTypes) {
        for (const it of this.ctx.store.all(type, ns)) {
          if ((it.obj.metadata.ownerReferences ?? []).some(r => r.uid === uid)) this.deleteObject(type, it, undefined, 'Background');
        }
      }
    });
  }

  private deleteNamespace(cur: StoredItem): StoredItem | undefined {
    const name = cur.obj.metadata.name!;
    if (['default', 'kube-system', 'kube-public'].includes(name)) {
      throw errors.forbidden('', 'namespaces', name, `this namespace may not be deleted`);
    }
    const updated = this.ctx.store.mutate(NAMESPACE, undefined, name, n => {
      n.metadata.deletionTimestamp ??= nowRfc3339();
      n.status = { phase: 'Terminating' };
    });
    setTimeout(() => {
      for (const t of this.ctx.store.allTypes()) {
        if (!t.namespaced) continue;
        for (const it of this.ctx.store.all(t, name)) {
          if (t === POD) this.ctx.lifecycle.deletePod(it, 0);
          else this.ctx.store.remove(t, name, it.obj.metadata.name!);
        }
      }
      this.ctx.store.remove(NAMESPACE, undefined, name);
    }, 50).unref?.();
    return updated;
  }

  private async deleteCollection(type: ResourceType, ns: string | undefined, query: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const opts = await this.deleteOptions(req, query);
    const { filter } = this.filterFor(type, query);
    const items = this.ctx.store.all(type, ns).filter(it => !filter || filter(it.obj));
    const out: string[] = [];
    for (const it of items) {
      if (!opts.dryRun) {
        const r = this.deleteObject(type, it, opts.grace, opts.propagation);
        out.push(jsonOf(r ?? it));
      } else out.push(jsonOf(it));
    }
    sendJson(res, 200, `{"kind":"${type.listKind}","apiVersion":"${apiVersionOf(type)}","metadata":{"resourceVersion":"${this.ctx.store.resourceVersion}"},"items":[${out.join(',')}]}`);
  }

  /** POST serviceaccounts/<name>/token (`kubectl create token`) */
  private async tokenRequest(info: RequestInfo, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const request = await this.readObject(TOKEN_REQUEST, req);
    sendJson(res, 201, this.ctx.tokens.tokenRequest(info.namespace, info.name, request));
  }

  private async accessReview(type: ResourceType, req: http.IncomingMessage, res: http.ServerResponse, caller: TokenEntry): Promise<void> {
    const obj = await this.readObject(type, req);
    const spec = (obj.spec ?? {}) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (type.resource === 'selfsubjectaccessreviews') {
      const ra = spec.resourceAttributes;
      const nra = spec.nonResourceAttributes;
      if (!ra && !nra) {
        throw errors.invalid(type.group, type.kind, '', [{ field: 'spec.resourceAttributes', message: 'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified', reason: 'FieldValueRequired' }]);
      }
      const attrs: Attributes = ra
        ? {
            user: caller.user,
            verb: ra.verb ?? '',
            resourceRequest: true,
            apiGroup: ra.group ?? '',
            resource: ra.resource ?? '',
            subresource: ra.subresource ?? '',
            namespace: ra.namespace ?? '',
            name: ra.name ?? '',
            path: '',
          }
        : { user: caller.user, verb: nra.verb ?? '', resourceRequest: false, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: nra.path ?? '' };
      const allowed = this.ctx.authz.authorize(caller, attrs);
      const status: Record<string, unknown> = { allowed };
      if (allowed) status.reason = `RBAC: allowed by kube-sim token rules for User "${caller.user.name}"`;
      sendJson(res, 201, { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { creationTimestamp: null }, spec, status });
      return;
    }
    const namespace = spec.namespace ?? '';
    sendJson(res, 201, { kind: type.kind, apiVersion: apiVersionOf(type), metadata: { creationTimestamp: null }, spec: { namespace }, status: this.ctx.authz.rulesReview(caller, namespace) });
  }
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter(k => o[k] !== undefined)
      .sort()
      .map(k => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** ValidatePodUpdate: only images, activeDeadlineSeconds and added tolerations may change. */
function checkPodSpecUpdate(cur: KObj, next: KObj): void {
  const before = structuredClone(cur.spec ?? {});
  const after = next.spec ?? {};
  for (const list of ['containers', 'initContainers']) {
    const a: Array<{ image?: string }> = after[list] ?? [];
    (before[list] ?? []).forEach((c: { image?: string }, i: number) => {
      if (a[i]) c.image = a[i].image;
    });
  }
  before.activeDeadlineSeconds = after.activeDeadlineSeconds;
  const oldTol: unknown[] = before.tolerations ?? [];
  const newTol: unknown[] = after.tolerations ?? [];
  if (oldTol.every(t => newTol.some(n => stableJson(n) === stableJson(t)))) before.tolerations = after.tolerations;
  if ((before.terminationGracePeriodSeconds ?? 0) < 0 && after.terminationGracePeriodSeconds === 1) before.terminationGracePeriodSeconds = 1;
  if (stableJson(before) !== stableJson(after)) {
    throw errors.invalid('', 'Pod', next.metadata.name ?? '', [
      {
        field: 'spec',
        reason: 'FieldValueForbidden',
        message:
          'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      },
    ]);
  }
}
