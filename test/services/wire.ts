/**
 * Just enough of the Redis (RESP2) and PostgreSQL (v3 frontend/backend)
 * protocols, over node:net, to prove each test server answers real commands
 * without a client library. The feature tests of issue 11 use the real
 * drivers; these stay driver-free so the smoke test runs on a bare checkout.
 */
import { connect, type Socket } from 'node:net';

/** Bytes from a socket, handed out as they are asked for. */
class SocketReader {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.wake?.();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the server closed the connection')));
  }

  /** Waits until `parse` finds a whole message at the front of the buffer, and consumes it. */
  async read<T>(parse: (buffer: Buffer) => { value: T; length: number } | undefined): Promise<T> {
    for (;;) {
      const parsed = parse(this.buffer);
      if (parsed) {
        this.buffer = this.buffer.subarray(parsed.length);
        return parsed.value;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

function open(url: URL, timeoutMs: number): Promise<SocketReader> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)));
    const reader = new SocketReader(socket);
    socket.once('connect', () => resolve(reader));
    socket.once('error', reject);
  });
}

// ---------------------------------------------------------------- Redis

export type RespValue = string | number | null | Error | RespValue[];

/** One RESP2 reply at `offset`, or undefined while it is incomplete. */
function parseResp(buffer: Buffer, offset = 0): { value: RespValue; length: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const after = lineEnd + 2;
  switch (String.fromCharCode(buffer[offset]!)) {
    case '+':
      return { value: line, length: after - offset };
    case '-':
      return { value: new Error(line), length: after - offset };
    case ':':
      return { value: Number(line), length: after - offset };
    case '$': {
      const size = Number(line);
      if (size < 0) return { value: null, length: after - offset };
      if (buffer.length < after + size + 2) return undefined;
      return { value: buffer.toString('utf8', after, after + size), length: after + size + 2 - offset };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, length: after - offset };
      const items: RespValue[] = [];
      let next = after;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buffer, next);
        if (!item) return undefined;
        items.push(item.value);
        next += item.length;
      }
      return { value: items, length: next - offset };
    }
    default:
      throw new Error(`not a RESP reply: ${JSON.stringify(buffer.toString('utf8', offset, Math.min(buffer.length, offset + 40)))}`);
  }
}

/** Sends the commands pipelined on one connection and returns their replies in order (errors as Error values). */
export async function redisCommands(url: URL, commands: string[][], timeoutMs = 5000): Promise<RespValue[]> {
  const reader = await open(url, timeoutMs);
  try {
    const encoded = commands.map((args) => `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
    reader.socket.write(encoded.join(''));
    const replies: RespValue[] = [];
    for (let i = 0; i < commands.length; i++) replies.push(await reader.read((buffer) => parseResp(buffer)));
    return replies;
  } finally {
    reader.socket.destroy();
  }
}

// ---------------------------------------------------------------- PostgreSQL

interface PgMessage {
  type: string;
  body: Buffer;
}

/** A backend message: a type byte, then an Int32 length that counts itself. */
function parsePgMessage(buffer: Buffer): { value: PgMessage; length: number } | undefined {
  if (buffer.length < 5) return undefined;
  const length = buffer.readInt32BE(1) + 1;
  if (buffer.length < length) return undefined;
  return { value: { type: String.fromCharCode(buffer[0]!), body: buffer.subarray(5, length) }, length };
}

/** The human-readable text of an ErrorResponse ('E'): its S(everity), C(ode) and M(essage) fields. */
function pgError(body: Buffer): Error {
  const fields: Record<string, string> = {};
  for (let at = 0; at < body.length && body[at] !== 0; ) {
    const end = body.indexOf(0, at + 1);
    fields[String.fromCharCode(body[at]!)] = body.toString('utf8', at + 1, end);
    at = end + 1;
  }
  return new Error(`postgres ${fields.S ?? 'ERROR'} ${fields.C ?? ''}: ${fields.M ?? 'unknown error'}`);
}

function pgFrame(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

export interface PgResult {
  /** The server's `server_version` parameter, sent at startup. */
  serverVersion: string | undefined;
  /** Rows as text values (the simple query protocol's text format). */
  rows: (string | null)[][];
}

/**
 * Logs in (the services script's cluster trusts loopback, so no password
 * exchange is implemented), runs one simple query, and says goodbye.
 */
export async function postgresQuery(url: URL, sql: string, timeoutMs = 5000): Promise<PgResult> {
  const user = decodeURIComponent(url.username) || 'postgres';
  const database = decodeURIComponent(url.pathname.slice(1)) || user;
  const reader = await open(url, timeoutMs);
  try {
    const params = Buffer.from(`user\0${user}\0database\0${database}\0\0`, 'utf8');
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length, 0);
    startup.writeInt32BE(196608, 4); // protocol 3.0
    reader.socket.write(Buffer.concat([startup, params]));
    let serverVersion: string | undefined;
    const next = () => reader.read(parsePgMessage);
    // Startup: AuthenticationOk, ParameterStatus*, BackendKeyData, ReadyForQuery.
    for (;;) {
      const message = await next();
      if (message.type === 'E') throw pgError(message.body);
      if (message.type === 'R' && message.body.readInt32BE(0) !== 0) {
        throw new Error(`postgres asks for authentication method ${message.body.readInt32BE(0)}; the services script's cluster uses trust`);
      }
      if (message.type === 'S') {
        const [name, value] = message.body.toString('utf8').split('\0');
        if (name === 'server_version') serverVersion = value;
      }
      if (message.type === 'Z') break;
    }
    reader.socket.write(pgFrame('Q', Buffer.from(`${sql}\0`, 'utf8')));
    const rows: (string | null)[][] = [];
    let error: Error | undefined;
    for (;;) {
      const message = await next();
      if (message.type === 'E') error = pgError(message.body);
      if (message.type === 'D') {
        const row: (string | null)[] = [];
        let at = 2;
        for (let column = 0; column < message.body.readInt16BE(0); column++) {
          const size = message.body.readInt32BE(at);
          at += 4;
          row.push(size < 0 ? null : message.body.toString('utf8', at, at + size));
          if (size > 0) at += size;
        }
        rows.push(row);
      }
      if (message.type === 'Z') break;
    }
    reader.socket.write(pgFrame('X', Buffer.alloc(0)));
    if (error) throw error;
    return { serverVersion, rows };
  } finally {
    reader.socket.destroy();
  }
}
