/*
 * pods/exec for kube-sim. The API server authenticates, authorizes and
 * resolves the pod, then hands the raw upgrade to handleExecUpgrade with the
 * command, streams, mounts and security context in `target`.
 */
import type * as http from 'node:http';
import type * as stream from 'node:stream';
import { handleSpdyExec } from './spdy';
import { handleWebSocketExec, rejectUpgrade } from './websocket';
import type { ExecTarget } from './types';

export type { ExecMount, ExecSecurityContext, ExecTarget } from './types';
export type { ExecStatus } from './status';

export function handleExecUpgrade(req: http.IncomingMessage, socket: stream.Duplex, head: Buffer, target: ExecTarget): void {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  socket.on('error', () => {
    // a reset client; the protocol handlers see 'close'
  });
  if (upgrade === 'websocket') {
    handleWebSocketExec(req, socket, head, target);
  } else if (upgrade.startsWith('spdy/')) {
    handleSpdyExec(req, socket, head, target);
  } else {
    rejectUpgrade(socket, 400, 'BadRequest', `unsupported upgrade protocol ${JSON.stringify(req.headers.upgrade ?? '')}: pods/exec needs a WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1 upgrade`);
  }
}
