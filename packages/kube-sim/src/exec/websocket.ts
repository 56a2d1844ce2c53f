/*
 * pods/exec over WebSocket, as the apiserver (≥1.30 stream translator) and the
 * kubelet speak it: subprotocols v5/v4/v3/v2/channel.k8s.io, one binary
 * message per chunk whose first byte is the channel (0 stdin, 1 stdout,
 * 2 stderr, 3 error, 4 resize; v5 adds 255 CLOSE <channel>).
 *
 * Like the kubelet, an empty message is sent first on the lowest open output
 * channel (stdout, else stderr, else error) to signal that streaming has
 * started. The server never sends CLOSE frames: client-node 1.4.0 would throw
 * "Unknown stream: 255" on them.
 */
import * as http from 'node:http';
import type * as stream from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { ExecSession, ExecTransport, FINISH_TIMEOUT_MS, startExecSession, STREAM_ERROR, STREAM_RESIZE, STREAM_STDERR, STREAM_STDIN, STREAM_STDOUT } from './channels';
import { encodeStatus, ExecStatus, httpStatusBody } from './status';
import type { ExecTarget } from './types';

/** Supported subprotocols, newest first. */
export const WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const STREAM_CLOSE = 255;

/** The first protocol the client offers that we support; '' if it offers none; null if none match. */
export function selectProtocol(header: string | string[] | undefined): string | null {
  const offered = (Array.isArray(header) ? header.join(',') : header ?? '')
    .split(',')
    .map(s => s.trim())
    .filter(Boolean);
  if (offered.length === 0) return '';
  return offered.find(p => WS_PROTOCOLS.includes(p)) ?? null;
}

let server: WebSocketServer | undefined;
function wsServer(): WebSocketServer {
  server ??= new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (protocols: Set<string>) => selectProtocol([...protocols].join(',')) || false,
  });
  return server;
}

export function rejectUpgrade(socket: stream.Duplex, code: number, reason: string, message: string): void {
  const body = httpStatusBody(code, reason, message);
  const text = http.STATUS_CODES[code] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${code} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function handleWebSocketExec(req: http.IncomingMessage, socket: stream.Duplex, head: Buffer, target: ExecTarget): void {
  const protocol = selectProtocol(req.headers['sec-websocket-protocol']);
  if (protocol === null) {
    rejectUpgrade(
      socket,
      400,
      'BadRequest',
      `requested protocol(s) are not supported: ${req.headers['sec-websocket-protocol']}; supports ${JSON.stringify(WS_PROTOCOLS)}`,
    );
    return;
  }
  wsServer().handleUpgrade(req, socket, head, ws => runOverWebSocket(ws, socket, protocol || 'channel.k8s.io', target));
}

/**
 * The header of an unmasked, unfragmented binary frame (RFC 6455 §5.2) whose payload is the
 * channel byte followed by `length` bytes of data. Writing it and the data separately spares a
 * copy of every output chunk.
 */
export function binaryFrameHeader(channel: number, length: number): Buffer {
  const payload = length + 1;
  let header: Buffer;
  if (payload < 126) {
    header = Buffer.allocUnsafe(3);
    header[1] = payload;
  } else if (payload < 65536) {
    header = Buffer.allocUnsafe(5);
    header[1] = 126;
    header.writeUInt16BE(payload, 2);
  } else {
    header = Buffer.allocUnsafe(11);
    header[1] = 127;
    header.writeUInt32BE(Math.floor(payload / 2 ** 32), 2);
    header.writeUInt32BE(payload >>> 0, 6);
  }
  header[0] = 0x82; // FIN + binary
  header[header.length - 1] = channel;
  return header;
}

function runOverWebSocket(ws: WebSocket, socket: stream.Duplex, protocol: string, target: ExecTarget): void {
  const v5 = protocol === 'v5.channel.k8s.io';
  const jsonStatus = v5 || protocol === 'v4.channel.k8s.io';
  let closed = false;
  let finished = false;

  // Output messages not yet handed to the kernel, and what to do once there are none.
  let unflushed = 0;
  let onFlushed: (() => void) | undefined;
  const flushed = () => {
    unflushed -= 1;
    if (unflushed > 0 || !onFlushed) return;
    const then = onFlushed;
    onFlushed = undefined;
    then();
  };

  const transport: ExecTransport = {
    send(streamId, data, done) {
      if (ws.readyState !== WebSocket.OPEN) {
        done();
        return;
      }
      unflushed += 1;
      socket.cork();
      socket.write(binaryFrameHeader(streamId, data.length));
      socket.write(data, () => {
        flushed();
        done();
      });
      socket.uncork();
    },
    finish(status: ExecStatus) {
      finished = true;
      // stdin may be paused (full child pipe): read again so the close handshake completes
      ws.resume();
      if (ws.readyState !== WebSocket.OPEN) return;
      const payload = encodeStatus(status, jsonStatus);
      if (payload.length) {
        unflushed += 1;
        ws.send(Buffer.concat([Buffer.from([STREAM_ERROR]), payload]), { binary: true }, flushed);
      }
      // ws destroys the socket 30 s after close(), with whatever is still queued in it. So close
      // only once the output and the Status are in the kernel: a client that reads slowly still
      // gets all of it. A client that reads nothing at all is cut off after FINISH_TIMEOUT_MS.
      const limit = setTimeout(() => ws.terminate(), FINISH_TIMEOUT_MS);
      limit.unref();
      ws.once('close', () => clearTimeout(limit));
      const close = () => {
        clearTimeout(limit);
        if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      };
      if (unflushed === 0) close();
      else onFlushed = close;
    },
    pauseInput: () => ws.pause(),
    resumeInput: () => ws.resume(),
  };

  // Tell the client that streaming has started.
  let first = STREAM_ERROR;
  if (target.stdout) first = STREAM_STDOUT;
  else if (target.stderr) first = STREAM_STDERR;
  ws.send(Buffer.from([first]), { binary: true });

  const session: ExecSession = startExecSession(target, transport);

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    const channel = data[0];
    if (v5 && channel === STREAM_CLOSE) {
      if (data.length > 1 && data[1] === STREAM_STDIN) session.stdinEnd();
      return;
    }
    if (channel === STREAM_STDIN && target.stdin) session.stdinData(data.subarray(1));
    // STREAM_RESIZE: no TTY is emulated, terminal sizes are ignored.
    void STREAM_RESIZE;
  });
  ws.on('error', () => {
    // followed by 'close'
  });
  ws.on('close', () => {
    if (closed) return;
    closed = true;
    // Without v5 there is no half-close: the client ends stdin by closing.
    session.stdinEnd();
    if (!finished) session.connectionLost();
  });
}
