/**
 * The upgrade route for pods/exec and pods/attach: authenticates, authorizes (`create` on
 * pods/exec, as kube-apiserver 1.33 does for both WebSocket and SPDY), resolves the pod,
 * container, volume mounts and security context, then hands the connection to ./exec.
 * Handshake errors are answered as Status JSON on the raw socket.
 */
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type stream from 'node:stream';
import type { SimContext } from './context';
import { handleExecUpgrade, type ExecTarget } from './exec';
import { parseRequestInfo } from './requestInfo';
import { POD, PVC } from './resources';
import { authorizeRequest } from './router';
import { ApiError, errors } from './status';
import type { Container, KObj, Volume } from './types';

export function writeUpgradeError(socket: stream.Duplex, err: unknown): void {
  const e = err instanceof ApiError ? err : errors.internal(String(err));
  const body = JSON.stringify(e.toStatus());
  const text = http.STATUS_CODES[e.code] ?? 'Error';
  socket.on('error', () => {});
  socket.end(`HTTP/1.1 ${e.code} ${text}\r\nContent-Type: application/json\r\nCache-Control: no-cache, private\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Resolves each volumeMount of a container to a host directory. */
export function resolveMounts(ctx: SimContext, pod: KObj, container: Container): ExecTarget['mounts'] {
  const volumes = new Map<string, Volume>(((pod.spec?.volumes ?? []) as Volume[]).map(v => [v.name, v]));
  const mounts: ExecTarget['mounts'] = [];
  for (const vm of container.volumeMounts ?? []) {
    const vol = volumes.get(vm.name);
    if (!vol) continue;
    let hostPath: string | undefined;
    let readOnly = Boolean(vm.readOnly);
    if (vol.persistentVolumeClaim) {
      readOnly = readOnly || Boolean(vol.persistentVolumeClaim.readOnly);
      const pvc = ctx.store.get(PVC, pod.metadata.namespace, vol.persistentVolumeClaim.claimName);
      const pvName: string | undefined = pvc?.obj.spec?.volumeName;
      if (!pvName) continue;
      hostPath = path.join(ctx.dataDir, 'pvs', pvName);
    } else if (vol.emptyDir !== undefined) {
      hostPath = path.join(ctx.dataDir, 'pods', String(pod.metadata.uid), 'volumes', vm.name);
      mkdirSync(hostPath, { recursive: true });
    } else continue;
    if (vm.subPath) hostPath = path.join(hostPath, vm.subPath);
    mounts.push({ hostPath, mountPath: vm.mountPath, readOnly });
  }
  return mounts;
}

export function handleUpgrade(ctx: SimContext, req: http.IncomingMessage, socket: stream.Duplex, head: Buffer): void {
  const started = Date.now();
  const url = new URL(req.url ?? '/', 'http://kube-sim');
  const log = (status: number, user?: string) => {
    ctx.requestLog.push({ method: req.method ?? '', url: req.url ?? '', status, user, at: started });
  };
  try {
    const info = parseRequestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
    if (!info.resourceRequest || info.type !== POD || !info.name || (info.subresource !== 'exec' && info.subresource !== 'attach')) {
      throw errors.pathNotFound();
    }
    info.verb = 'create';
    const entry = authorizeRequest(ctx, info, req.headers.authorization);
    const q = url.searchParams;
    const flag = (n: string) => q.get(n) === 'true' || q.get(n) === '1';
    const pod = ctx.store.get(POD, info.namespace, info.name);
    if (!pod) throw errors.notFound('', 'pods', info.name);
    const containers: Container[] = pod.obj.spec?.containers ?? [];
    let containerName = q.get('container') ?? '';
    if (!containerName) {
      if (containers.length === 1) containerName = containers[0].name;
      else throw errors.badRequest(`a container name must be specified for pod ${info.name}, choose one of: [${containers.map(c => c.name).join(' ')}]`);
    }
    const container = containers.find(c => c.name === containerName);
    if (!container) throw errors.badRequest(`container ${containerName} is not valid for pod ${info.name}`);
    if (!pod.obj.spec?.nodeName) throw errors.badRequest(`pod ${info.name} does not have a host assigned`);
    const phase = pod.obj.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      throw errors.badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
    }
    const cs = (pod.obj.status?.containerStatuses ?? []).find((s: { name: string }) => s.name === containerName);
    if (phase !== 'Running' || !cs?.state?.running) throw errors.badRequest(`container not found ("${containerName}")`);
    const command = q.getAll('command');
    const stdin = flag('stdin');
    const stdout = flag('stdout');
    const stderr = flag('stderr');
    if (!stdin && !stdout && !stderr) throw errors.badRequest('you must specify at least 1 of stdin, stdout, stderr');
    if (info.subresource === 'exec' && command.length === 0) throw errors.badRequest('you must specify at least one command for the container');

    const podSc = pod.obj.spec?.securityContext ?? {};
    const cSc = container.securityContext ?? {};
    const securityContext: NonNullable<ExecTarget['securityContext']> = {};
    const runAsUser = cSc.runAsUser ?? podSc.runAsUser;
    const runAsGroup = cSc.runAsGroup ?? podSc.runAsGroup;
    if (runAsUser !== undefined) securityContext.runAsUser = runAsUser;
    if (runAsGroup !== undefined) securityContext.runAsGroup = runAsGroup;
    if (podSc.fsGroup !== undefined) securityContext.fsGroup = podSc.fsGroup;
    if (podSc.supplementalGroups) securityContext.supplementalGroups = podSc.supplementalGroups;
    if (cSc.capabilities) securityContext.capabilities = cSc.capabilities;
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;

    const ns = info.namespace;
    const name = info.name;
    const target: ExecTarget = {
      command: info.subresource === 'attach' ? container.command ?? ['sh'] : command,
      container: containerName,
      stdin,
      stdout,
      stderr,
      tty: flag('tty'),
      mounts: resolveMounts(ctx, pod.obj, container),
      securityContext: Object.keys(securityContext).length ? securityContext : undefined,
      workingDir: container.workingDir,
      env,
      onProcess: kill => {
        const unregister = ctx.lifecycle.registerProcess(ns, name, kill);
        socket.once('close', unregister);
      },
    };
    log(101, entry.user.name);
    handleExecUpgrade(req, socket, head, target);
  } catch (err) {
    log(err instanceof ApiError ? err.code : 500);
    writeUpgradeError(socket, err);
  }
}
