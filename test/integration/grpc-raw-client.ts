/**
 * A stand-alone gRPC client built the way third-party clients are: from .proto text through
 * @grpc/proto-loader (protobufjs codecs), sharing no code with seamoon. Run as a separate process
 * by grpc-tunnel.test.ts; prints one JSON line with what it observed.
 *
 * usage: grpc-raw-client.ts <serverPort> <token> <originPort>
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const TUNNEL_PROTO = `syntax = "proto3";
package tunnel;
message Ping { string version = 1; }
message Pong { string status = 1; string time = 2; string version = 3; string commit = 4; }
message Chunk { bytes body = 1; int32 size = 2; }
service Tunnel {
  rpc Auto (stream Chunk) returns (stream Chunk);
  rpc Http (stream Chunk) returns (stream Chunk);
  rpc Socks5 (stream Chunk) returns (stream Chunk);
  rpc Health (Ping) returns (Pong);
}`;

const GOST_PROTO = `syntax = "proto3";
message Chunk { bytes data = 1; }
service GostTunel { rpc Tunnel (stream Chunk) returns (stream Chunk); }`;

type Stream = grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;
interface TunnelClient extends grpc.Client {
  Socks5(metadata: grpc.Metadata): Stream;
  Health(
    request: { version: string },
    callback: (err: grpc.ServiceError | null, pong?: Record<string, string>) => void,
  ): void;
}
interface GostClient extends grpc.Client {
  Tunnel(metadata: grpc.Metadata): Stream;
}
type ClientConstructor<T> = new (address: string, creds: grpc.ChannelCredentials) => T;

const [portText, token, originPortText] = process.argv.slice(2);
const address = `127.0.0.1:${portText}`;
const originPort = Number(originPortText);

const dir = mkdtempSync(join(tmpdir(), 'seamoon-proto-'));
writeFileSync(join(dir, 'tunnel.proto'), TUNNEL_PROTO);
writeFileSync(join(dir, 'gost.proto'), GOST_PROTO);
// Two roots, as two separately generated clients would be: both files define a `Chunk`.
const tunnelPackage = grpc.loadPackageDefinition(
  protoLoader.loadSync(join(dir, 'tunnel.proto')),
) as unknown as {
  tunnel: { Tunnel: ClientConstructor<TunnelClient> };
};
const gostPackage = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, 'gost.proto'))) as unknown as {
  GostTunel: ClientConstructor<GostClient>;
};
rmSync(dir, { recursive: true, force: true });
const creds = grpc.credentials.createInsecure();
const tunnel = new tunnelPackage.tunnel.Tunnel(address, creds);
const gost = new gostPackage.GostTunel(address, creds);

function bearer(value: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${value}`);
  return metadata;
}

/** SOCKS5 greeting + CONNECT 127.0.0.1:originPort + an HTTP/1.0 request, pipelined. */
function socksGetHello(): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(originPort);
  return Buffer.concat([
    Buffer.from([5, 1, 0]),
    Buffer.from([5, 1, 0, 1, 127, 0, 0, 1]),
    port,
    Buffer.from('GET /hello HTTP/1.0\r\nHost: origin\r\n\r\n'),
  ]);
}

/** Writes `request` as one message, then collects every byte back until the server ends. */
function exchange(
  stream: Stream,
  field: 'body' | 'data',
  request: Buffer,
): Promise<{ bytes: Buffer; code?: number }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    stream.on('data', (message: Record<string, unknown>) => {
      const value = message[field];
      if (Buffer.isBuffer(value)) parts.push(value);
    });
    stream.once('error', (err: grpc.ServiceError) =>
      resolve({ bytes: Buffer.concat(parts), code: err.code }),
    );
    stream.once('end', () => resolve({ bytes: Buffer.concat(parts) }));
    stream.write(field === 'body' ? { body: request, size: request.length } : { data: request });
  });
}

function summary(result: { bytes: Buffer; code?: number }) {
  // Method selection (2 bytes) + IPv4 CONNECT reply (10 bytes), then the origin's answer.
  return {
    code: result.code ?? 0,
    socksReply: result.bytes.length >= 4 ? [...result.bytes.subarray(0, 4)] : [],
    http: result.bytes.subarray(12).toString('latin1'),
  };
}

const health = await new Promise<Record<string, string> | { error: number }>((resolve) =>
  tunnel.Health({ version: 'raw-client' }, (err, pong) => resolve(err ? { error: err.code } : (pong ?? {}))),
);
const viaGost = summary(await exchange(gost.Tunnel(bearer(token)), 'data', socksGetHello()));
const viaSocks5 = summary(await exchange(tunnel.Socks5(bearer(token)), 'body', socksGetHello()));
const wrongToken = summary(await exchange(tunnel.Socks5(bearer(`${token}-wrong`)), 'body', socksGetHello()));
tunnel.close();
gost.close();
process.stdout.write(`${JSON.stringify({ health, viaGost, viaSocks5, wrongToken })}\n`);
