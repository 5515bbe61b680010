import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { HTTP2_PREFACE } from './sniff.js';

/** An empty HTTP/2 SETTINGS frame: length 0, type 4, flags 0, stream 0. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

export interface ProbeTarget {
  host: string;
  port: number;
  tls: boolean;
  /** Only the handshake's outcome matters here, so certificates are not checked. */
  servername?: string;
  /** How the user named the server, for the message. */
  displayUrl: string;
}

/**
 * After a gRPC call failed to reach the server, find out what the port actually speaks so the
 * error can say so: nothing listening, an HTTP/1.1 server (typically a seamoon WebSocket
 * server), or an HTTP/2 server (then the failure lies elsewhere and `undefined` is returned).
 * Never throws; bounded by `timeoutMs`.
 */
export function diagnoseGrpcEndpoint(target: ProbeTarget, timeoutMs = 2_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    let socket: Socket | TLSSocket;
    const finish = (verdict: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(verdict);
    };
    const notGrpc = (why: string) => `the server at ${target.displayUrl} does not speak gRPC: ${why}`;
    const http1 = notGrpc('it answers HTTP/1.1 (is it a websocket server? use a ws:// or wss:// URL)');
    const onOpen = () => {
      if (target.tls) {
        const alpn = (socket as TLSSocket).alpnProtocol;
        if (alpn !== 'h2')
          return finish(notGrpc('its TLS endpoint does not offer HTTP/2 (is it a websocket server?)'));
      }
      socket.write(Buffer.concat([HTTP2_PREFACE, EMPTY_SETTINGS]));
    };
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      const seen = Buffer.concat(chunks);
      if (seen.subarray(0, 5).toString('latin1') === 'HTTP/') return finish(http1);
      // A TLS alert record (content type 21, version 3.x) answering our cleartext.
      if (!target.tls && seen[0] === 0x15 && seen[1] === 0x03) {
        return finish(notGrpc('it expects TLS (use grpcs:// instead of grpc://)'));
      }
      // A server's first HTTP/2 frame is its SETTINGS (type 4 at offset 3).
      if (seen.length >= 9)
        finish(seen[3] === 4 ? undefined : notGrpc('it does not answer HTTP/2 (is it a websocket server?)'));
    };
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED')
        return finish(`${target.displayUrl} is unavailable: nothing is listening on that port`);
      if (target.tls && /wrong version number|packet length too long|ssl3_get_record/i.test(err.message)) {
        return finish(notGrpc('it does not speak TLS (try grpc:// instead of grpcs://)'));
      }
      finish(undefined);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket = target.tls
      ? tlsConnect({
          host: target.host,
          port: target.port,
          servername: target.servername,
          ALPNProtocols: ['h2', 'http/1.1'],
          rejectUnauthorized: false,
        })
      : netConnect({ host: target.host, port: target.port });
    socket.once(target.tls ? 'secureConnect' : 'connect', onOpen);
    socket.on('data', onData);
    socket.once('error', onError);
    let askedTls = false;
    const onSilentClose = () => {
      if (settled || askedTls) return;
      if (chunks.length > 0) return finish(undefined);
      // A TLS server drops cleartext without a word; ask it in TLS before blaming the protocol.
      const silent = notGrpc('it closed the connection without an HTTP/2 answer');
      if (target.tls) return finish(silent);
      askedTls = true;
      void speaksTls(target, timeoutMs).then((tls) =>
        finish(tls ? notGrpc('it expects TLS (use grpcs:// instead of grpc://)') : silent),
      );
    };
    socket.once('end', onSilentClose);
    socket.once('close', onSilentClose);
  });
}

/** Whether a TLS handshake (certificate unchecked) completes on the port. */
function speaksTls(target: ProbeTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: target.host,
      port: target.port,
      servername: target.servername,
      rejectUnauthorized: false,
    });
    const done = (result: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}
