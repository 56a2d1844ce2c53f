import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as wsModule from 'ws';
import {
  DATA_FRAME_BUFFER_BYTES,
  encodeClientDataFrameInto,
  encodeClientFrame,
  MAX_DATA_FRAME_PAYLOAD,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_CONTINUATION,
  OPCODE_PING,
  webSocketAccept,
  WebSocketFrameReader,
  WebSocketProtocolError,
} from './webSocketFrames';

/** An unmasked server frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  let header: Buffer;
  if (payload.length < 126) {
    header = Buffer.from([0, payload.length]);
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  header[0] = (fin ? 0x80 : 0) | opcode;
  return Buffer.concat([header, payload]);
}

function recorder() {
  const events: string[] = [];
  const data: Buffer[] = [];
  const reader = new WebSocketFrameReader({
    messageStart: opcode => events.push(`start:${opcode}`),
    messageData: chunk => data.push(Buffer.from(chunk)),
    messageEnd: () => events.push('end'),
    control: (opcode, payload) => events.push(`control:${opcode}:${payload.toString()}`),
  });
  return { reader, events, data: () => Buffer.concat(data) };
}

describe('WebSocketFrameReader', () => {
  it('reassembles a fragmented message with a ping between its fragments, fed one byte at a time', () => {
    const payload = randomBytes(300);
    const wire = Buffer.concat([
      serverFrame(OPCODE_BINARY, payload.subarray(0, 100), false),
      serverFrame(OPCODE_PING, Buffer.from('hi')),
      serverFrame(OPCODE_CONTINUATION, payload.subarray(100, 200), false),
      serverFrame(OPCODE_CONTINUATION, payload.subarray(200), true),
    ]);
    const r = recorder();
    for (const byte of wire) r.reader.push(Buffer.from([byte]));
    expect(r.events).toEqual([`start:${OPCODE_BINARY}`, `control:${OPCODE_PING}:hi`, 'end']);
    expect(r.data().equals(payload)).toBe(true);
  });

  it.each([
    ['7-bit', 125],
    ['16-bit', 65535],
    ['64-bit', 70_000],
  ])('reads %s payload lengths across arbitrary read boundaries', (_name, length) => {
    const payloads = [randomBytes(length), randomBytes(1), randomBytes(0)];
    const wire = Buffer.concat(payloads.map(p => serverFrame(OPCODE_BINARY, p)));
    const r = recorder();
    for (let offset = 0; offset < wire.length; ) {
      const size = 1 + Math.floor(Math.random() * 9000);
      r.reader.push(wire.subarray(offset, offset + size));
      offset += size;
    }
    expect(r.events.filter(e => e === 'end')).toHaveLength(3);
    expect(r.data().equals(Buffer.concat(payloads))).toBe(true);
  });

  it('rejects masked server frames, stray continuations and oversized control frames', () => {
    const masked = serverFrame(OPCODE_BINARY, Buffer.from('x'));
    masked[1] |= 0x80;
    expect(() => recorder().reader.push(Buffer.concat([masked, Buffer.alloc(4)]))).toThrow(WebSocketProtocolError);
    expect(() => recorder().reader.push(serverFrame(OPCODE_CONTINUATION, Buffer.from('x')))).toThrow(/Continuation/);
    expect(() => recorder().reader.push(serverFrame(OPCODE_CLOSE, Buffer.alloc(126)))).toThrow(/control frame/);
  });
});

describe('encodeClientFrame', () => {
  it('masks the payload as RFC 6455 requires of clients', () => {
    const frame = encodeClientFrame(OPCODE_CLOSE, Buffer.from([0x03, 0xe8]));
    expect(frame[0]).toBe(0x80 | OPCODE_CLOSE);
    expect(frame[1]).toBe(0x80 | 2);
    const mask = frame.subarray(2, 6);
    const unmasked = Buffer.from(frame.subarray(6).map((b, i) => b ^ mask[i % 4]));
    expect(unmasked.readUInt16BE(0)).toBe(1000);
    expect(() => encodeClientFrame(OPCODE_PING, Buffer.alloc(126))).toThrow();
  });
});

describe('encodeClientDataFrameInto', () => {
  /** ws's own server-side frame parser (exported at runtime, missing from @types/ws). */
  const Receiver = (wsModule as unknown as { Receiver: new (options: object) => EventEmitter & { write(chunk: Buffer): void } })
    .Receiver;

  /** ws's parser in server mode: it insists on masked frames and unmasks them. */
  function wsReceiver() {
    const messages: Buffer[] = [];
    const errors: Error[] = [];
    const receiver = new Receiver({ isServer: true, maxPayload: 0 });
    receiver.on('message', (data: Buffer, isBinary: boolean) => {
      expect(isBinary).toBe(true);
      messages.push(Buffer.from(data));
    });
    receiver.on('error', (error: Error) => errors.push(error));
    return { receiver, messages, errors };
  }

  it.each([0, 1, 3, 124, 125, 126, 1000, 65534, MAX_DATA_FRAME_PAYLOAD - 1])(
    'frames %i data bytes after the channel byte so that ws decodes them exactly',
    length => {
      const { receiver, messages, errors } = wsReceiver();
      const data = randomBytes(length);
      const copy = Buffer.from(data);
      const target = Buffer.allocUnsafeSlow(DATA_FRAME_BUFFER_BYTES);
      const frame = encodeClientDataFrameInto(target, OPCODE_BINARY, 0, data);
      expect(frame.buffer).toBe(target.buffer); // built in place, no new buffer
      expect(frame[0]).toBe(0x80 | OPCODE_BINARY);
      expect(frame[1] & 0x80).toBe(0x80);
      receiver.write(frame);
      expect(errors).toEqual([]);
      expect(messages).toHaveLength(1);
      expect(messages[0][0]).toBe(0);
      expect(messages[0].subarray(1).equals(data)).toBe(true);
      expect(data.equals(copy)).toBe(true); // the caller's bytes are copied, not masked in place
    },
  );

  it('works in a buffer that is not 4-byte aligned, and reused frame after frame', () => {
    const { receiver, messages, errors } = wsReceiver();
    const backing = Buffer.allocUnsafeSlow(DATA_FRAME_BUFFER_BYTES + 3);
    const target = backing.subarray(3);
    const sent: Buffer[] = [];
    for (const length of [70, 4096, 65535, 5, 30_001]) {
      const data = randomBytes(length);
      sent.push(data);
      receiver.write(Buffer.from(encodeClientDataFrameInto(target, OPCODE_BINARY, 0, data)));
    }
    expect(errors).toEqual([]);
    expect(messages.map(m => m.subarray(1).toString('hex'))).toEqual(sent.map(d => d.toString('hex')));
  });

  it('uses a fresh mask for every frame', () => {
    const target = Buffer.allocUnsafeSlow(DATA_FRAME_BUFFER_BYTES);
    const masks = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const frame = encodeClientDataFrameInto(target, OPCODE_BINARY, 0, Buffer.alloc(10));
      masks.add(frame.subarray(2, 6).toString('hex'));
    }
    // 2000 draws from 2^32: a repeat is a bug, not bad luck (p < 0.001)
    expect(masks.size).toBe(2000);
  });

  it('refuses data larger than one frame, or a buffer too small', () => {
    expect(() => encodeClientDataFrameInto(Buffer.alloc(DATA_FRAME_BUFFER_BYTES), OPCODE_BINARY, 0, Buffer.alloc(MAX_DATA_FRAME_PAYLOAD))).toThrow(
      /at most 65535 bytes/,
    );
    expect(() => encodeClientDataFrameInto(Buffer.alloc(100), OPCODE_BINARY, 0, Buffer.alloc(100))).toThrow(/too small/);
  });
});

describe('webSocketAccept', () => {
  it('matches the example of RFC 6455 §1.3', () => {
    expect(webSocketAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});
