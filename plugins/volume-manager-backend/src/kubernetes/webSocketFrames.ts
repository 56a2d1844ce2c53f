/*
 * The client side of RFC 6455 framing, for the exec stream. The reader is a push parser that
 * never allocates for payload: data frames are handed on as slices of the buffer they arrived
 * in, which is valid only during the callback. Control frames (ping, pong, close: at most 125
 * bytes) are collected in a small scratch buffer, since they may be split across reads.
 *
 * The writer side masks client frames (RFC 6455 §5.3). Data frames are built into a buffer the
 * caller provides and reuses (`encodeClientDataFrameInto`), the payload 4-byte aligned so that
 * masking runs a word at a time; mask keys come from a pool refilled by the CSPRNG, so a frame
 * costs neither an allocation nor a system call.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

export class WebSocketProtocolError extends Error {
  readonly name = 'WebSocketProtocolError';
}

export interface FrameHandlers {
  /** The first frame of a data message (text or binary) begins. */
  messageStart(opcode: number): void;
  /** Payload bytes of the current data message; `data` is only valid during the call. */
  messageData(data: Buffer): void;
  /** The final frame of the current data message ended. */
  messageEnd(): void;
  /** A complete control frame. */
  control(opcode: number, payload: Buffer): void;
}

const MAX_CONTROL_PAYLOAD = 125;

export class WebSocketFrameReader {
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;
  private readonly controlPayload = Buffer.alloc(MAX_CONTROL_PAYLOAD);
  private controlLength = 0;
  /** Payload bytes left in the current frame; -1 while a header is being read. */
  private remaining = -1;
  private opcode = 0;
  private fin = false;
  private inMessage = false;

  constructor(private readonly handlers: FrameHandlers) {}

  /** Feeds bytes read from the socket. Throws WebSocketProtocolError on malformed input. */
  push(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      if (this.remaining < 0) {
        offset = this.readHeader(data, offset);
        continue;
      }
      const take = Math.min(this.remaining, data.length - offset);
      if (take > 0) {
        const slice = data.subarray(offset, offset + take);
        if (this.opcode >= OPCODE_CLOSE) {
          slice.copy(this.controlPayload, this.controlLength);
          this.controlLength += take;
        } else {
          this.handlers.messageData(slice);
        }
        offset += take;
        this.remaining -= take;
      }
      if (this.remaining === 0) this.endFrame();
    }
  }

  private readHeader(data: Buffer, start: number): number {
    let offset = start;
    while (offset < data.length) {
      this.header[this.headerLength++] = data[offset++];
      const needed = this.headerSize();
      if (needed !== undefined && this.headerLength === needed) {
        this.beginFrame();
        if (this.remaining === 0) this.endFrame();
        return offset;
      }
    }
    return offset;
  }

  /** The header's total size once its first two bytes are known. */
  private headerSize(): number | undefined {
    if (this.headerLength < 2) return undefined;
    const len7 = this.header[1] & 0x7f;
    const masked = (this.header[1] & 0x80) !== 0;
    let extended = 0;
    if (len7 === 126) extended = 2;
    else if (len7 === 127) extended = 8;
    return 2 + extended + (masked ? 4 : 0);
  }

  private beginFrame() {
    const b0 = this.header[0];
    const b1 = this.header[1];
    if (b1 & 0x80) throw new WebSocketProtocolError('The server sent a masked frame');
    if (b0 & 0x70) throw new WebSocketProtocolError('The server set reserved frame bits (an extension was not negotiated)');
    const opcode = b0 & 0x0f;
    const len7 = b1 & 0x7f;
    let length = len7;
    if (len7 === 126) length = this.header.readUInt16BE(2);
    if (len7 === 127) {
      const high = this.header.readUInt32BE(2);
      if (high > 0x1fffff) throw new WebSocketProtocolError('Frame length out of range');
      length = high * 2 ** 32 + this.header.readUInt32BE(6);
    }
    this.fin = (b0 & 0x80) !== 0;
    this.headerLength = 0;
    this.remaining = length;
    if (opcode >= OPCODE_CLOSE) {
      if (!this.fin || length > MAX_CONTROL_PAYLOAD) throw new WebSocketProtocolError('Invalid control frame');
      if (opcode !== OPCODE_CLOSE && opcode !== OPCODE_PING && opcode !== OPCODE_PONG) {
        throw new WebSocketProtocolError(`Unknown control opcode ${opcode}`);
      }
      this.opcode = opcode;
      this.controlLength = 0;
      return;
    }
    if (opcode === OPCODE_CONTINUATION) {
      if (!this.inMessage) throw new WebSocketProtocolError('Continuation frame outside a message');
    } else if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
      if (this.inMessage) throw new WebSocketProtocolError('A new message began before the previous one ended');
      this.inMessage = true;
      this.handlers.messageStart(opcode);
    } else {
      throw new WebSocketProtocolError(`Unknown opcode ${opcode}`);
    }
    this.opcode = opcode;
  }

  private endFrame() {
    this.remaining = -1;
    if (this.opcode >= OPCODE_CLOSE) {
      this.handlers.control(this.opcode, this.controlPayload.subarray(0, this.controlLength));
      return;
    }
    if (this.fin) {
      this.inMessage = false;
      this.handlers.messageEnd();
    }
  }
}

/** A masked client frame (RFC 6455 §5.3: every client frame is masked). Control frames only. */
export function encodeClientFrame(opcode: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_CONTROL_PAYLOAD) throw new Error('Client frames here carry at most 125 bytes');
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  const mask = randomBytes(4);
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i % 4];
  return frame;
}

/** The largest payload `encodeClientDataFrameInto` takes (one channel byte included). */
export const MAX_DATA_FRAME_PAYLOAD = 64 * 1024;
/** Where the payload starts in a data-frame buffer: room for the longest header, 4-aligned. */
const PAYLOAD_OFFSET = 16;
/** The size of a buffer for `encodeClientDataFrameInto`. */
export const DATA_FRAME_BUFFER_BYTES = PAYLOAD_OFFSET + MAX_DATA_FRAME_PAYLOAD;

const MASK_POOL_BYTES = 4096;
const maskPool = Buffer.allocUnsafeSlow(MASK_POOL_BYTES);
let maskOffset = MASK_POOL_BYTES;

/** Four unpredictable bytes, valid until the next call. */
function nextMask(): Buffer {
  if (maskOffset >= MASK_POOL_BYTES) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  const mask = maskPool.subarray(maskOffset, maskOffset + 4);
  maskOffset += 4;
  return mask;
}

/** XORs `length` bytes of `buffer` from `start` with the mask, a 32-bit word at a time where aligned. */
function maskInPlace(buffer: Buffer, start: number, length: number, mask: Buffer) {
  let i = 0;
  const absolute = buffer.byteOffset + start;
  if (absolute % 4 === 0 && length >= 4) {
    const words = Math.floor(length / 4);
    const view = new Uint32Array(buffer.buffer, absolute, words);
    // the mask read the way the view reads memory, so each word gets the bytes m0 m1 m2 m3 in order
    const key = new Uint32Array(mask.buffer, mask.byteOffset, 1)[0];
    for (let w = 0; w < words; w++) view[w] ^= key;
    i = words * 4;
  }
  for (; i < length; i++) buffer[start + i] ^= mask[i % 4];
}

/**
 * Builds one masked, final data frame in `target` (a buffer of DATA_FRAME_BUFFER_BYTES, reused
 * by the caller once the frame has been written): `prefix` (the exec channel) followed by
 * `data`, at most MAX_DATA_FRAME_PAYLOAD - 1 bytes. Returns the frame, a view of `target`;
 * `data` is copied, never modified.
 */
export function encodeClientDataFrameInto(target: Buffer, opcode: number, prefix: number, data: Buffer): Buffer {
  const payloadLength = data.length + 1;
  if (payloadLength > MAX_DATA_FRAME_PAYLOAD) throw new Error(`A data frame carries at most ${MAX_DATA_FRAME_PAYLOAD - 1} bytes here`);
  if (target.length < PAYLOAD_OFFSET + payloadLength) throw new Error('The frame buffer is too small');
  let start: number;
  if (payloadLength < 126) {
    start = PAYLOAD_OFFSET - 6;
    target[start + 1] = 0x80 | payloadLength;
  } else if (payloadLength < 65536) {
    start = PAYLOAD_OFFSET - 8;
    target[start + 1] = 0x80 | 126;
    target.writeUInt16BE(payloadLength, start + 2);
  } else {
    start = PAYLOAD_OFFSET - 14;
    target[start + 1] = 0x80 | 127;
    target.writeUInt32BE(0, start + 2);
    target.writeUInt32BE(payloadLength, start + 6);
  }
  target[start] = 0x80 | opcode;
  const mask = nextMask();
  mask.copy(target, PAYLOAD_OFFSET - 4);
  target[PAYLOAD_OFFSET] = prefix;
  data.copy(target, PAYLOAD_OFFSET + 1);
  maskInPlace(target, PAYLOAD_OFFSET, payloadLength, target.subarray(PAYLOAD_OFFSET - 4, PAYLOAD_OFFSET));
  return target.subarray(start, PAYLOAD_OFFSET + payloadLength);
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
export function webSocketAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}
