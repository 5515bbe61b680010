import { randomBytes, randomInt } from 'node:crypto';
import { isIP, connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket } from 'ws';
import { formatTarget, type Target } from '../../core/address.js';
import { SeamoonError, toSeamoonError } from '../../core/errors.js';
import type { DialOptions, UdpSession } from '../../outbound/types.js';
import {
  evpBytesToKey,
  SsStreamDecoder,
  SsStreamEncoder,
  ssCipherSpec,
} from '../../protocol/shadowsocks/aead.js';
import { encodeSocksAddress } from '../../protocol/v2ray-shared/address.js';
import {
  CodecDuplex,
  type StreamDecoder,
  type StreamEncoder,
} from '../../protocol/v2ray-shared/codec-duplex.js';
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../../protocol/v2ray-shared/packet-framing.js';
import { uuidToBytes } from '../../protocol/v2ray-shared/uuid.js';
import { encodeVlessRequest, VlessCommand, VlessResponseDecoder } from '../../protocol/vless/codec.js';
import {
  VmessBodyDecoder,
  VmessBodyEncoder,
  VmessOption,
  VmessSecurity,
  type VmessSecurityCode,
} from '../../protocol/vmess/body.js';
import {
  encodeInstruction,
  responseKeys,
  sealRequestHeader,
  VmessCommand,
  VmessResponseDecoder,
  vmessUser,
} from '../../protocol/vmess/header.js';
import { wsToDuplex } from '../../transport/ws-stream.js';
import { displayShareLink, parseShareLink, type ShareLink } from '../share-links.js';
import type { Tunnel, TunnelHealth, TunnelOptions } from './types.js';
import { tlsOptions } from './ws-open.js';

/**
 * A tunnel to any v2ray-family server from a share link: one WebSocket (or TCP/TLS
 * connection) per app connection, speaking VLESS, VMess (AEAD) or Shadowsocks (AEAD) as a
 * client. UDP (VLESS/VMess) uses one connection per target.
 */
const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
/** What `ws` reports when the server ignored the early-data subprotocol. */
const NO_SUBPROTOCOL = /Server sent no subprotocol/;

/**
 * `?ed=N` on a WebSocket path (the Xray convention): up to N bytes of the opening go in the
 * upgrade's Sec-WebSocket-Protocol header (base64url), saving a round trip.
 */
function splitEarlyData(path: string): { path: string; maxEarlyData: number } {
  const queryAt = path.indexOf('?');
  if (queryAt < 0) return { path, maxEarlyData: 0 };
  const params = new URLSearchParams(path.slice(queryAt + 1));
  const maxEarlyData = Number(params.get('ed') ?? 0);
  params.delete('ed');
  const rest = params.toString();
  return {
    path: `${path.slice(0, queryAt)}${rest ? `?${rest}` : ''}`,
    maxEarlyData: Number.isInteger(maxEarlyData) && maxEarlyData > 0 ? maxEarlyData : 0,
  };
}

interface OpenedTransport {
  stream: Duplex;
  /** The opening bytes already went out with the upgrade (early data). */
  openingSent: boolean;
}

/** Opens the transport the link names and returns it as a byte stream. */
function openTransport(
  link: ShareLink,
  options: TunnelOptions,
  dial: DialOptions,
  opening?: Buffer,
): Promise<OpenedTransport> {
  const t = link.transport;
  const timeoutMs = dial.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
  const sniName = t.sni ?? t.host ?? link.address;
  // SNI carries names only (RFC 6066); an IP address as the server name is left out.
  const tls = {
    ...tlsOptions({ insecure: options.insecure, ca: options.ca }),
    ...(isIP(sniName) ? {} : { servername: sniName }),
  };
  const where = displayShareLink(link);
  return new Promise((resolve, reject) => {
    let settled = false;
    let cleanup = () => {};
    let openingSent = false;
    const settle = (err?: Error, stream?: Duplex) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      dial.signal?.removeEventListener('abort', onAbort);
      if (err || !stream) {
        cleanup();
        const cause = toSeamoonError(err);
        reject(
          cause.code === 'CLOSED' && dial.signal?.aborted
            ? cause
            : new SeamoonError('TUNNEL_UNAVAILABLE', `tunnel ${where} unreachable: ${cause.message}`, {
                cause: err,
              }),
        );
      } else {
        resolve({ stream, openingSent });
      }
    };
    const timer = setTimeout(
      () => settle(new SeamoonError('DIAL_TIMEOUT', `no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => settle(new SeamoonError('CLOSED', 'dial aborted'));
    dial.signal?.addEventListener('abort', onAbort, { once: true });

    if (t.network === 'ws') {
      const scheme = t.tls ? 'wss' : 'ws';
      const host = link.address.includes(':') ? `[${link.address}]` : link.address;
      const { path, maxEarlyData } = splitEarlyData(t.path);
      openingSent = opening !== undefined && opening.length > 0 && opening.length <= maxEarlyData;
      const protocols = openingSent && opening ? [opening.toString('base64url')] : [];
      const socket = new WebSocket(`${scheme}://${host}:${link.port}${path}`, protocols, {
        headers: t.host ? { host: t.host } : {},
        perMessageDeflate: false,
        followRedirects: false,
        ...(t.tls ? tls : {}),
      });
      cleanup = () => socket.terminate();
      socket.once('open', () => settle(undefined, wsToDuplex(socket)));
      socket.once('unexpected-response', (req, res) => {
        res.resume();
        req.destroy();
        settle(new SeamoonError('TUNNEL_UNAVAILABLE', `upgrade refused with HTTP ${res.statusCode}`));
      });
      socket.on('error', (err) => settle(err));
    } else {
      const socket = t.tls
        ? tlsConnect({ host: link.address, port: link.port, ...tls })
        : netConnect({ host: link.address, port: link.port });
      cleanup = () => socket.destroy();
      socket.once(t.tls ? 'secureConnect' : 'connect', () => {
        socket.setNoDelay(true);
        settle(undefined, socket);
      });
      socket.on('error', (err) => settle(err));
    }
  });
}

/** The client half of one protocol: a request header plus the codecs for the body. */
export interface ClientSession {
  /** Bytes to send first: the request header (and the first payload, if given). */
  opening: Buffer;
  encoder: StreamEncoder;
  decoder: StreamDecoder;
}

export type SessionFactory = (target: Target, udp: boolean, firstBytes: Buffer | undefined) => ClientSession;

const identityEncoder: StreamEncoder = { encode: (plain) => plain };

function vlessSessions(uuid: string): SessionFactory {
  const id = uuidToBytes(uuid);
  return (target, udp, firstBytes) => {
    const header = encodeVlessRequest(id, udp ? VlessCommand.udp : VlessCommand.tcp, target);
    const encoder: StreamEncoder = udp ? { encode: encodeLengthPrefixed } : identityEncoder;
    const response = new VlessResponseDecoder();
    const packets = new LengthPrefixedDecoder();
    const decoder: StreamDecoder = udp
      ? { decode: (wire) => response.decode(wire).flatMap((bytes) => packets.decode(bytes)) }
      : response;
    return {
      opening: firstBytes ? Buffer.concat([header, encoder.encode(firstBytes)]) : header,
      encoder,
      decoder,
    };
  };
}

/** `auto` picks AES-GCM, as v2ray does on machines with AES instructions. */
function vmessSecurity(name: string): { security: VmessSecurityCode; options: number } {
  const chunked = VmessOption.chunkStream | VmessOption.chunkMasking;
  switch (name.toLowerCase()) {
    case 'auto':
    case 'aes-128-gcm':
      return { security: VmessSecurity.aes128gcm, options: chunked | VmessOption.globalPadding };
    case 'chacha20-poly1305':
      return { security: VmessSecurity.chacha20poly1305, options: chunked | VmessOption.globalPadding };
    case 'none':
      return { security: VmessSecurity.none, options: chunked };
    case 'zero':
      // As v2ray: "zero" is "none" without chunking, the stream as it is.
      return { security: VmessSecurity.none, options: 0 };
    default:
      throw new SeamoonError('UNSUPPORTED_COMMAND', `VMess security "${name}" is not supported`);
  }
}

function vmessSessions(uuid: string, securityName: string): SessionFactory {
  const user = vmessUser(uuidToBytes(uuid));
  const { security, options } = vmessSecurity(securityName);
  return (target, udp, firstBytes) => {
    const iv = randomBytes(16);
    const key = randomBytes(16);
    const responseAuth = randomInt(0, 256);
    const instruction = encodeInstruction({
      iv,
      key,
      responseAuth,
      options,
      security,
      command: udp ? VmessCommand.udp : VmessCommand.tcp,
      target,
    });
    const encoder = new VmessBodyEncoder({ security, options, key, iv, packet: udp });
    const reply = responseKeys({ key, iv });
    const decoder = new VmessResponseDecoder(
      responseAuth,
      reply,
      new VmessBodyDecoder({ security, options, ...reply, packet: udp }),
    );
    const header = sealRequestHeader(user, instruction);
    return {
      opening: firstBytes ? Buffer.concat([header, encoder.encode(firstBytes)]) : header,
      encoder,
      decoder,
    };
  };
}

function shadowsocksSessions(method: string, password: string): SessionFactory {
  const spec = ssCipherSpec(method);
  const masterKey = evpBytesToKey(password, spec.keySize);
  return (target, udp, firstBytes) => {
    if (udp)
      throw new SeamoonError('UNSUPPORTED_COMMAND', 'Shadowsocks UDP cannot be carried over this transport');
    const encoder = new SsStreamEncoder(spec, masterKey);
    const address = encodeSocksAddress(target);
    const opening = encoder.encode(firstBytes ? Buffer.concat([address, firstBytes]) : address);
    return { opening, encoder, decoder: new SsStreamDecoder(spec, masterKey) };
  };
}

/** Builds client sessions for a link's protocol, independent of the transport that carries them. */
export function clientSessions(link: ShareLink): SessionFactory {
  if (link.protocol === 'vless') return vlessSessions(link.uuid);
  if (link.protocol === 'vmess') {
    if (link.alterId > 0)
      throw new SeamoonError(
        'UNSUPPORTED_COMMAND',
        'VMess alterId > 0 (legacy MD5 headers) is not supported',
      );
    return vmessSessions(link.uuid, link.security);
  }
  return shadowsocksSessions(link.method, link.password);
}

/** UDP through VLESS/VMess: one tunnel connection per target, opened on first use. */
class PerTargetUdpSession implements UdpSession {
  readonly #open: (target: Target) => Promise<CodecDuplex>;
  readonly #flows = new Map<string, Promise<CodecDuplex>>();
  readonly #messageListeners: ((source: Target, payload: Buffer) => void)[] = [];
  readonly #closeListeners: ((err?: Error) => void)[] = [];
  #closed = false;

  constructor(open: (target: Target) => Promise<CodecDuplex>) {
    this.#open = open;
  }

  send(target: Target, payload: Buffer): void {
    if (this.#closed) return;
    const key = formatTarget(target);
    let flow = this.#flows.get(key);
    if (!flow) {
      flow = this.#open(target);
      this.#flows.set(key, flow);
      flow.then(
        (stream) => {
          stream.on('data', (packet: Buffer) => {
            for (const listener of this.#messageListeners) listener(target, packet);
          });
          stream.on('error', () => {});
          stream.once('close', () => this.#flows.delete(key));
          if (this.#closed) stream.destroy();
        },
        () => this.#flows.delete(key),
      );
    }
    flow.then(
      (stream) => {
        if (!stream.destroyed) stream.write(payload);
      },
      () => {},
    );
  }

  onMessage(listener: (source: Target, payload: Buffer) => void): void {
    this.#messageListeners.push(listener);
  }

  onClose(listener: (err?: Error) => void): void {
    this.#closeListeners.push(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const flow of this.#flows.values())
      flow.then(
        (stream) => stream.destroy(),
        () => {},
      );
    this.#flows.clear();
    for (const listener of this.#closeListeners) listener();
  }
}

export function createV2rayTunnel(url: URL, options: TunnelOptions = {}): Tunnel {
  const link = parseShareLink(url.href);
  const sessions = clientSessions(link);
  const udpSessions = new Set<PerTargetUdpSession>();
  let earlyDataRefused = false;

  async function connect(target: Target, udp: boolean, dial: DialOptions): Promise<CodecDuplex> {
    if (dial.onion)
      throw new SeamoonError('UNSUPPORTED_COMMAND', 'Tor routing is not available through this tunnel');
    const session = sessions(target, udp, dial.firstBytes);
    let opened: OpenedTransport;
    try {
      opened = await openTransport(link, options, dial, earlyDataRefused ? undefined : session.opening);
    } catch (err) {
      // Servers that take early data but do not echo the header (v2ray 4.x) fail the upgrade
      // in a strict WebSocket client; from then on this tunnel sends the opening in-band.
      if (earlyDataRefused || !NO_SUBPROTOCOL.test(toSeamoonError(err).message)) throw err;
      earlyDataRefused = true;
      opened = await openTransport(link, options, dial);
    }
    if (!opened.openingSent) opened.stream.write(session.opening);
    return new CodecDuplex(opened.stream, session.encoder, session.decoder, { datagrams: udp });
  }

  const tunnel: Tunnel = {
    name: link.protocol,
    displayUrl: displayShareLink(link),
    dial: (target, dial = {}) => connect(target, false, dial),
    async health(probe = {}): Promise<TunnelHealth> {
      // These servers have no health page: a completed transport handshake is the signal.
      const started = performance.now();
      try {
        const { stream } = await openTransport(link, options, { timeoutMs: probe.timeoutMs ?? 5_000 });
        stream.destroy();
        return { ok: true, latencyMs: Math.round(performance.now() - started) };
      } catch (err) {
        return {
          ok: false,
          latencyMs: Math.round(performance.now() - started),
          error: toSeamoonError(err).message,
        };
      }
    },
    async close() {
      for (const session of udpSessions) session.close();
      udpSessions.clear();
    },
  };
  if (link.protocol !== 'ss') {
    tunnel.openUdp = async () => {
      const session = new PerTargetUdpSession((target) => connect(target, true, {}));
      udpSessions.add(session);
      session.onClose(() => udpSessions.delete(session));
      return session;
    };
  }
  return tunnel;
}
