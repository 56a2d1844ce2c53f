/*
 * The only module (with its siblings in this folder) that talks to Kubernetes API servers.
 *
 * Authentication and TLS come from @kubernetes/client-node's KubeConfig, so every credential
 * kind it supports works the same way here. Reads go through one small JSON client rather than
 * client-node's generated API classes: an inventory of 20,000 pods is a few dozen paginated
 * LISTs, and the generated model deserialisation costs more than the network. Objects keep
 * client-node's types (V1Pod, V1PersistentVolumeClaim, ...).
 *
 * Nothing here waits forever: every request ends after `requestTimeoutMs` (config
 * `volumeManager.kubernetes.requestTimeoutSeconds`) or when the caller's signal aborts, whichever
 * comes first, including a server that accepts the connection and never answers.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubernetesApiError, kubernetesErrorFromResponse, type KubernetesCallContext } from './errors';
import { resourcePath, type KubernetesResource } from './resources';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size for `limit`/`continue` pagination. Defaults to 500, as kubectl does. */
  pageSize?: number;
  signal?: AbortSignal;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** The caller's cancellation (an item's abort); the request timeout applies as well. */
  signal?: AbortSignal;
}

/** How long one API request may take when the client is created without a timeout. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** A client for one cluster. */
export interface ClusterClient {
  readonly cluster: string;
  /** Every request (each page of a list, the exec handshake) fails after this long. */
  readonly requestTimeoutMs: number;
  /** Lists every object of a resource, following `continue` tokens. */
  list<T>(resource: KubernetesResource, options?: ListOptions): Promise<T[]>;
  get<T>(
    resource: KubernetesResource,
    namespace: string | undefined,
    name: string,
    options?: { signal?: AbortSignal },
  ): Promise<T>;
  request<T>(path: string, context: KubernetesCallContext, options?: RequestOptions): Promise<T>;
  /** The KubeConfig behind this client. */
  readonly kubeConfig: KubeConfig;
  /**
   * A new connection to the API server for an HTTP/1.1 upgrade (exec), reading into
   * `onread`'s buffer instead of allocating one per read. Resolves once the connection (and
   * TLS) is established, with the request target and the credential headers to send; fails
   * after `requestTimeoutMs` or when `signal` aborts.
   */
  openUpgradeSocket(onread: net.OnReadOpts, signal?: AbortSignal): Promise<UpgradeSocket>;
}

export interface UpgradeSocket {
  socket: net.Socket;
  /** The API server URL (its path is the prefix for API paths). */
  url: URL;
  /** Authorization and other headers the kubeconfig requires. */
  headers: http.OutgoingHttpHeaders;
}

interface Connection {
  url: URL;
  transport: typeof http | typeof https;
  agent: http.Agent;
  headers: http.OutgoingHttpHeaders;
  /** TLS settings for connections made outside the agent; undefined for http:// servers. */
  tls?: tls.ConnectionOptions;
}

async function connect(kc: KubeConfig): Promise<Connection> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('The kubeconfig has no current cluster');
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const url = new URL(cluster.server);
  const isHttp = url.protocol === 'http:';
  const agentOptions: https.AgentOptions = {
    keepAlive: true,
    maxSockets: 8,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    servername: options.servername,
    rejectUnauthorized: options.rejectUnauthorized,
  };
  return {
    url,
    transport: isHttp ? http : https,
    agent: isHttp ? new http.Agent({ keepAlive: true, maxSockets: 8 }) : new https.Agent(agentOptions),
    headers: {
      ...(options.headers as http.OutgoingHttpHeaders | undefined),
      ...(options.auth && { Authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` }),
    },
    tls: isHttp
      ? undefined
      : {
          ca: options.ca,
          cert: options.cert,
          key: options.key,
          pfx: options.pfx,
          passphrase: options.passphrase,
          rejectUnauthorized: options.rejectUnauthorized,
          // SNI takes host names only; an IP address is verified against the certificate's IP SANs.
          servername: options.servername ?? (net.isIP(url.hostname) ? undefined : url.hostname),
        },
  };
}

export function createClusterClient(
  cluster: string,
  kubeConfig: KubeConfig,
  clientOptions: { requestTimeoutMs?: number } = {},
): ClusterClient {
  const requestTimeoutMs = clientOptions.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  let connection: Promise<Connection> | undefined;
  const getConnection = () => (connection ??= connect(kubeConfig));

  async function request<T>(
    path: string,
    context: KubernetesCallContext,
    options: RequestOptions = {},
  ): Promise<T> {
    let conn: Connection;
    try {
      conn = await getConnection();
    } catch (error) {
      connection = undefined;
      throw new KubernetesApiError(
        cluster,
        undefined,
        context,
        undefined,
        `Cannot use the credentials of cluster '${cluster}': ${(error as Error).message}`,
        { cause: error },
      );
    }
    const url = new URL(conn.url.toString());
    url.pathname = `${conn.url.pathname.replace(/\/$/, '')}${path}`;
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const failure = (error: Error) => {
      let message = `Cluster '${cluster}' is unreachable at ${conn.url.origin}: ${error.message}`;
      if (options.signal?.aborted) {
        message = `Cancelled while waiting for cluster '${cluster}' (${context.verb} ${context.resource})`;
      } else if (timeout.aborted) {
        message = `Cluster '${cluster}' did not answer within ${requestTimeoutMs / 1000}s (${context.verb} ${context.resource}; kubernetes.requestTimeoutSeconds)`;
      }
      return new KubernetesApiError(cluster, undefined, context, undefined, message, { cause: error });
    };
    return new Promise<T>((resolve, reject) => {
      const req = conn.transport.request(
        url,
        {
          method: options.method ?? 'GET',
          agent: conn.agent,
          signal,
          headers: {
            ...conn.headers,
            Accept: 'application/json',
            ...(body !== undefined && {
              'Content-Type': options.contentType ?? 'application/json',
              'Content-Length': Buffer.byteLength(body),
            }),
          },
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', chunk => chunks.push(chunk));
          res.on('error', error => reject(failure(error)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const statusCode = res.statusCode ?? 0;
            if (statusCode < 200 || statusCode >= 300) {
              reject(kubernetesErrorFromResponse(cluster, statusCode, context, text));
              return;
            }
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch {
              resolve(undefined as T);
            }
          });
        },
      );
      req.on('error', error => reject(failure(error)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  async function openUpgradeSocket(onread: net.OnReadOpts, signal?: AbortSignal): Promise<UpgradeSocket> {
    const conn = await getConnection();
    const port = Number(conn.url.port) || (conn.tls ? 443 : 80);
    const host = conn.url.hostname.replace(/^\[(.*)\]$/, '$1');
    return new Promise<UpgradeSocket>((resolve, reject) => {
      const socket = conn.tls
        ? // TLSSocket passes `onread` on to net.Socket (lib/_tls_wrap.js); @types/node omits it.
          tls.connect({ ...conn.tls, host, port, onread } as tls.ConnectionOptions)
        : net.connect({ host, port, onread });
      socket.setNoDelay(true);
      const onAbort = () => socket.destroy(new Error('cancelled'));
      signal?.addEventListener('abort', onAbort);
      if (signal?.aborted) onAbort();
      socket.setTimeout(requestTimeoutMs, () =>
        socket.destroy(new Error(`no connection within ${requestTimeoutMs / 1000}s (kubernetes.requestTimeoutSeconds)`)),
      );
      const onError = (error: Error) => {
        signal?.removeEventListener('abort', onAbort);
        reject(new Error(`Cluster '${cluster}' is unreachable at ${conn.url.origin}: ${error.message}`));
      };
      socket.once('error', onError);
      socket.once(conn.tls ? 'secureConnect' : 'connect', () => {
        socket.setTimeout(0);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        resolve({ socket, url: conn.url, headers: conn.headers });
      });
    });
  }

  return {
    cluster,
    kubeConfig,
    requestTimeoutMs,
    request,
    openUpgradeSocket,
    async list<T>(resource: KubernetesResource, options: ListOptions = {}): Promise<T[]> {
      const items: T[] = [];
      let continueToken: string | undefined;
      const context: KubernetesCallContext = {
        verb: 'list',
        resource,
        namespace: options.namespace,
      };
      do {
        const page = await request<{ items?: T[]; metadata?: { continue?: string } }>(
          resourcePath(resource, options.namespace),
          context,
          {
            query: {
              limit: options.pageSize ?? 500,
              continue: continueToken,
              labelSelector: options.labelSelector,
              fieldSelector: options.fieldSelector,
            },
            signal: options.signal,
          },
        );
        for (const item of page.items ?? []) items.push(item);
        continueToken = page.metadata?.continue || undefined;
      } while (continueToken);
      return items;
    },
    async get<T>(
      resource: KubernetesResource,
      namespace: string | undefined,
      name: string,
      options: { signal?: AbortSignal } = {},
    ): Promise<T> {
      return request<T>(
        resourcePath(resource, namespace, name),
        { verb: 'get', resource, namespace, name },
        { signal: options.signal },
      );
    },
  };
}
