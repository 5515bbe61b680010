import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocket } from 'ws';

/** Resolves with exactly `n` bytes from the stream (or rejects when it ends first). */
export function readExactly(stream: Duplex, n: number, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${n} bytes`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= n) finish(undefined, buffered.subarray(0, n), buffered.subarray(n));
    };
    const onEnd = () => finish(new Error(`stream ended after ${buffered.length} of ${n} bytes`));
    const finish = (err?: Error, value?: Buffer, rest?: Buffer) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.pause();
      // Put back what belongs to the next read (only once paused and unhooked, or it is re-emitted here).
      if (rest && rest.length > 0) stream.unshift(rest);
      if (err) reject(err);
      else resolve(value!);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.resume();
  });
}

/** A SOCKS5 CONNECT request for an IPv4 address or a host name. */
export function socksRequest(host: string, port: number): Buffer {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) {
    return Buffer.concat([Buffer.from([5, 1, 0, 1]), Buffer.from(host.split('.').map(Number)), portBytes]);
  }
  const name = Buffer.from(host);
  return Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, portBytes]);
}

/** A tunnel server's `/socks5` route as a raw stream, opened with the token (and SM-ONION). */
export async function openSocksRoute(port: number, token: string, onion = false): Promise<Duplex> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (onion) headers['sm-onion'] = 'enable';
  const socket = new WebSocket(`ws://127.0.0.1:${port}/socks5`, { headers });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const stream = createWebSocketStream(socket);
  stream.on('error', () => {});
  return stream;
}

/**
 * A raw SOCKS5 CONNECT (no authentication) on `stream`; resolves with the reply code once the
 * whole reply is read, leaving the stream at the relayed bytes.
 */
export async function socksConnect(stream: Duplex, target: { host: string; port: number }): Promise<number> {
  stream.write(Buffer.from([5, 1, 0]));
  const greeting = await readExactly(stream, 2);
  if (greeting[0] !== 5 || greeting[1] !== 0)
    throw new Error(`unexpected SOCKS greeting ${greeting.toString('hex')}`);
  stream.write(socksRequest(target.host, target.port));
  const head = await readExactly(stream, 4);
  const addressLength = head[3] === 1 ? 4 : head[3] === 4 ? 16 : (await readExactly(stream, 1))[0]!;
  await readExactly(stream, addressLength + 2);
  return head[1]!;
}
