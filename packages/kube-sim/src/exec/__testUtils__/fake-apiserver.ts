/*
 * The smallest apiserver the real kubectl accepts for `kubectl exec`:
 * discovery, GET of one Running pod, and the exec upgrade (handed to
 * handleExecUpgrade). Test-only; the real server lives in ../../.
 */
import * as http from 'node:http';
import { promises as fs } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { handleExecUpgrade } from '../index';
import type { ExecTarget } from '../types';
import { targetFromRequest, TargetOverrides } from './target';

export interface FakeApiServer {
  url: string;
  kubeconfig: string;
  overrides: TargetOverrides;
  /** Refuse WebSocket upgrades (400), to make kubectl ≥1.30 fall back to SPDY. */
  refuseWebSocket: boolean;
  /** Upgrade protocols seen, e.g. 'websocket', 'SPDY/3.1'. */
  upgrades: string[];
  targets: ExecTarget[];
  close(): Promise<void>;
}

const json = (res: http.ServerResponse, code: number, body: unknown) => {
  const s = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
  res.end(s);
};

export async function startFakeApiServer(dir: string): Promise<FakeApiServer> {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const p = u.pathname;
    if (p === '/version') {
      return json(res, 200, { major: '1', minor: '33', gitVersion: 'v1.33.0', platform: 'linux/amd64' });
    }
    if (p === '/api') {
      return json(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host }],
      });
    }
    if (p === '/apis') return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (p === '/api/v1') {
      return json(res, 200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
          { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
        ],
      });
    }
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p);
    if (m && req.method === 'GET') {
      return json(res, 200, {
        kind: 'Pod',
        apiVersion: 'v1',
        metadata: { name: m[2], namespace: m[1], uid: '00000000-0000-0000-0000-000000000001', resourceVersion: '1' },
        spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'alpine:3.20' }] },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    return json(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
  });
  const api: FakeApiServer = {
    url: '',
    kubeconfig: path.join(dir, 'kubeconfig'),
    overrides: {},
    refuseWebSocket: false,
    upgrades: [],
    targets: [],
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('upgrade', (req, socket, head) => {
    const upgrade = String(req.headers.upgrade);
    api.upgrades.push(upgrade);
    if (api.refuseWebSocket && upgrade.toLowerCase() === 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const target = targetFromRequest(req, api.overrides);
    api.targets.push(target);
    handleExecUpgrade(req, socket, head, target);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await fs.writeFile(
    api.kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: sim',
      '  cluster:',
      `    server: ${api.url}`,
      'users:',
      '- name: u',
      '  user:',
      '    token: test-token',
      'contexts:',
      '- name: sim',
      '  context: {cluster: sim, user: u, namespace: ns}',
      'current-context: sim',
      '',
    ].join('\n'),
  );
  return api;
}
