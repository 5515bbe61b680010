import type { Duplex } from 'node:stream';
import { formatTarget, type Target } from '../core/address.js';
import { SeamoonError, toSeamoonError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { relay } from '../core/relay.js';
import type { UdpSession } from '../outbound/types.js';
import {
  evpBytesToKey,
  SsAead,
  type SsCipherSpec,
  SsStreamDecoder,
  SsStreamEncoder,
  ssCipherSpec,
} from '../protocol/shadowsocks/aead.js';
import { parseSocksAddress } from '../protocol/v2ray-shared/address.js';
import {
  CodecDuplex,
  passThroughDecoder,
  type StreamDecoder,
  type StreamEncoder,
} from '../protocol/v2ray-shared/codec-duplex.js';
import { drainAndClose } from '../protocol/v2ray-shared/drain.js';
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../protocol/v2ray-shared/packet-framing.js';
import { ReplayFilter } from '../protocol/v2ray-shared/replay-filter.js';
import { StreamReader } from '../protocol/v2ray-shared/stream-reader.js';
import { isUuid, uuidToBytes } from '../protocol/v2ray-shared/uuid.js';
import { encodeVlessResponse, readVlessRequest, VlessCommand } from '../protocol/vless/codec.js';
import { VmessBodyDecoder, VmessBodyEncoder } from '../protocol/vmess/body.js';
import {
  AUTH_ID_WINDOW_S,
  readRequestHeader,
  responseKeys,
  sealResponseHeader,
  VmessCommand,
  type VmessUser,
  vmessUser,
} from '../protocol/vmess/header.js';
import { outboundFor, type RouteDeps } from './builtin-routes.js';
import type { Route, StreamRoute, TunnelRequest } from './routes.js';
import { relayDatagrams } from './udp-relay.js';

/**
 * `/vless`, `/vmess` and `/v-shadowsocks`: v2ray-family protocols that authenticate their own
 * users (UUIDs, a password), so they bypass the bearer token. A failed handshake is drained,
 * never answered, so the server cannot be told apart from one that serves nothing.
 */
export interface V2rayServerConfig {
  uuids: Buffer[];
  ss?: { password: string; cipher: SsCipherSpec };
}

/**
 * After the target finished and the in-band end marker went out (VMess), a client that keeps
 * the stream open is closed after this long (v2ray's `downlinkOnly` policy is similar).
 */
const HALF_CLOSE_GRACE_MS = 2_000;
/** Shadowsocks salts are remembered this long (SIP004 has no timestamp; the window is a bound). */
const SS_SALT_TTL_MS = 60 * 60 * 1000;
const SS_SALT_MAX = 100_000;
/** A SOCKS address is at most 1 + 1 + 255 + 2 bytes; a first chunk without one is not ours. */
const SS_MAX_ADDRESS_BYTES = 259;

/** `SM_UID` (comma-separated UUIDs), `SM_SS_PASS`, `SM_SS_CRYPT` (default aes-256-gcm). */
export function parseV2rayServerConfig(env: NodeJS.ProcessEnv): V2rayServerConfig {
  const ids = (env.SM_UID ?? '')
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  for (const id of ids) {
    if (!isUuid(id)) throw new SeamoonError('BAD_REQUEST', 'SM_UID/--uid must be UUIDs (comma-separated)');
  }
  const password = env.SM_SS_PASS ?? '';
  return {
    uuids: ids.map(uuidToBytes),
    ss: password === '' ? undefined : { password, cipher: ssCipherSpec(env.SM_SS_CRYPT || 'aes-256-gcm') },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SeamoonError('HANDSHAKE_TIMEOUT', 'handshake timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Prepends a response header to the first bytes we send (or to the end marker, if any). */
function withResponseHeader(header: Buffer, inner: StreamEncoder): StreamEncoder {
  let pending: Buffer | undefined = header;
  const take = (): Buffer => {
    const out = pending ?? Buffer.alloc(0);
    pending = undefined;
    return out;
  };
  const encoder: StreamEncoder = {
    encode: (plain) => (pending ? Buffer.concat([take(), inner.encode(plain)]) : inner.encode(plain)),
  };
  const innerEnd = inner.end?.bind(inner);
  if (innerEnd) {
    encoder.end = () => {
      const tail = innerEnd();
      return pending ? Buffer.concat([take(), tail ?? Buffer.alloc(0)]) : tail;
    };
  }
  return encoder;
}

const identityEncoder: StreamEncoder = { encode: (plain) => plain };

interface Session {
  deps: RouteDeps;
  stream: Duplex;
  log: Logger;
}

/** A failed handshake: log at debug (probes are routine), then drain like v2ray. */
async function refuse(session: Session, reader: StreamReader, err: unknown): Promise<void> {
  reader.release();
  const error = toSeamoonError(err);
  session.log.debug({ code: error.code, reason: error.message }, 'handshake refused');
  if (error.code === 'CLOSED') {
    session.stream.destroy();
    return;
  }
  await drainAndClose(session.stream);
}

async function relayTcp(
  session: Session,
  target: Target,
  codec: { encoder: StreamEncoder; decoder: StreamDecoder; leftover?: Buffer; firstBytes?: Buffer },
): Promise<void> {
  const { deps, stream, log } = session;
  let upstream: Duplex;
  try {
    upstream = await deps.outbound.dial(target, {
      timeoutMs: deps.timeouts.dialMs,
      firstBytes: codec.firstBytes,
    });
  } catch (err) {
    const error = toSeamoonError(err);
    log.info({ target: formatTarget(target), code: error.code }, 'dial failed');
    stream.destroy();
    return;
  }
  const app = new CodecDuplex(stream, codec.encoder, codec.decoder, {
    leftover: codec.leftover,
    halfCloseGraceMs: HALF_CLOSE_GRACE_MS,
  });
  app.on('error', (err) => log.debug({ err: err.message }, 'tunnel stream error'));
  upstream.on('error', (err) => log.debug({ err: err.message }, 'target stream error'));
  const result = await relay(app, upstream, { idleTimeoutMs: deps.timeouts.idleMs });
  log.debug({ target: formatTarget(target), up: result.up, down: result.down }, 'relay finished');
}

/** One UDP target per request (VLESS/VMess command 2); datagrams framed by the protocol. */
async function relayUdp(
  session: Session,
  target: Target,
  codec: { encode: (payload: Buffer) => Buffer; decoder: StreamDecoder; leftover: Buffer },
): Promise<void> {
  const { deps, stream, log } = session;
  if (!deps.outbound.openUdp) {
    log.info('UDP is not available on this outbound');
    stream.destroy();
    return;
  }
  let udp: UdpSession;
  try {
    udp = await deps.outbound.openUdp();
  } catch (err) {
    log.info({ code: toSeamoonError(err).code }, 'UDP session failed');
    stream.destroy();
    return;
  }
  await relayDatagrams(
    {
      udp,
      idleMs: deps.timeouts.idleMs,
      toClient(_source, payload) {
        if (!stream.destroyed) stream.write(codec.encode(payload));
      },
      closeClient: () => stream.destroy(),
    },
    ({ touch, finish }) => {
      const fromClient = (chunk: Buffer) => {
        touch();
        let packets: Buffer[];
        try {
          packets = codec.decoder.decode(chunk);
        } catch (err) {
          log.debug({ err: String(err) }, 'bad UDP chunk');
          finish();
          return;
        }
        for (const packet of packets) udp.send(target, packet);
        if (codec.decoder.ended) finish();
      };
      stream.once('close', finish);
      stream.once('end', finish);
      stream.on('error', finish);
      if (codec.leftover.length > 0) fromClient(codec.leftover);
      stream.on('data', fromClient);
      stream.resume();
    },
  );
}

/**
 * A route whose protocol authenticates its own clients: the request header must be read within
 * the handshake timeout (a failure is refused the way v2ray does), then `serve` takes over with
 * the bytes that came after the header.
 */
function selfAuthenticatingRoute<Header>(
  name: string,
  deps: RouteDeps,
  readHeader: (reader: StreamReader) => Promise<Header>,
  serve: (session: Session, header: Header, rest: Buffer) => Promise<void>,
): StreamRoute {
  return {
    name,
    kind: 'stream',
    auth: 'self',
    async handle(stream: Duplex, request: TunnelRequest) {
      const session: Session = {
        deps: { ...deps, outbound: outboundFor(deps, request) },
        stream,
        log: request.log,
      };
      const reader = new StreamReader(stream);
      let header: Header;
      try {
        header = await withTimeout(readHeader(reader), deps.timeouts.handshakeMs);
      } catch (err) {
        await refuse(session, reader, err);
        return;
      }
      await serve(session, header, reader.release());
    },
  };
}

function vlessRoute(deps: RouteDeps, users: Buffer[]): StreamRoute {
  return selfAuthenticatingRoute(
    'vless',
    deps,
    (reader) => readVlessRequest(reader, users),
    async (session, header, rest) => {
      if (header.command === VlessCommand.tcp) {
        await relayTcp(session, header.target, {
          encoder: withResponseHeader(encodeVlessResponse(), identityEncoder),
          decoder: passThroughDecoder,
          firstBytes: rest.length > 0 ? rest : undefined,
        });
      } else {
        session.stream.write(encodeVlessResponse());
        await relayUdp(session, header.target, {
          encode: encodeLengthPrefixed,
          decoder: new LengthPrefixedDecoder(),
          leftover: rest,
        });
      }
    },
  );
}

function vmessRoute(deps: RouteDeps, users: VmessUser[]): StreamRoute {
  // One filter for all users: an auth ID is unique per request whoever sent it.
  const replay = new ReplayFilter({ ttlMs: AUTH_ID_WINDOW_S * 2 * 1000 });
  return selfAuthenticatingRoute(
    'vmess',
    deps,
    (reader) => readRequestHeader(reader, users, replay),
    async (session, opened, rest) => {
      const i = opened.instruction;
      const packet = i.command === VmessCommand.udp;
      const keys = responseKeys(i);
      const decoder = new VmessBodyDecoder({
        security: i.security,
        options: i.options,
        key: i.key,
        iv: i.iv,
        packet,
      });
      const bodyEncoder = new VmessBodyEncoder({ security: i.security, options: i.options, ...keys, packet });
      const encoder = withResponseHeader(sealResponseHeader(i.responseAuth, keys), bodyEncoder);
      if (!packet) {
        await relayTcp(session, i.target, { encoder, decoder, leftover: rest });
      } else {
        await relayUdp(session, i.target, {
          encode: (payload) => encoder.encode(payload),
          decoder,
          leftover: rest,
        });
      }
    },
  );
}

function shadowsocksRoute(deps: RouteDeps, ss: NonNullable<V2rayServerConfig['ss']>): StreamRoute {
  const masterKey = evpBytesToKey(ss.password, ss.cipher.keySize);
  const salts = new ReplayFilter({ ttlMs: SS_SALT_TTL_MS, maxEntries: SS_SALT_MAX });

  /** Salt, then chunks until the target address is complete; the rest is the first payload. */
  async function readHeader(reader: StreamReader) {
    const salt = await reader.read(ss.cipher.saltSize);
    const aead = new SsAead(ss.cipher, masterKey, salt);
    let plain = Buffer.alloc(0);
    for (;;) {
      const length = aead.open(await reader.read(18)).readUInt16BE(0) & 0x3fff;
      // Remember the salt only once it authenticated, so garbage cannot fill the filter.
      if (plain.length === 0 && !salts.checkAndAdd(salt)) {
        throw new SeamoonError('AUTH_FAILED', 'replayed Shadowsocks salt');
      }
      plain = Buffer.concat([plain, aead.open(await reader.read(length + 16))]);
      const parsed = parseSocksAddress(plain);
      if (parsed) return { aead, target: parsed.target, first: plain.subarray(parsed.next) };
      if (plain.length > SS_MAX_ADDRESS_BYTES)
        throw new SeamoonError('BAD_REQUEST', 'no Shadowsocks address');
    }
  }

  return selfAuthenticatingRoute('v-shadowsocks', deps, readHeader, (session, header, rest) =>
    relayTcp(session, header.target, {
      encoder: new SsStreamEncoder(ss.cipher, masterKey),
      decoder: new SsStreamDecoder(ss.cipher, masterKey, header.aead),
      leftover: rest,
      firstBytes: header.first.length > 0 ? header.first : undefined,
    }),
  );
}

/** The route factory: no UUIDs → no VLESS/VMess routes; no password → no Shadowsocks route. */
export function v2rayRoutes(deps: RouteDeps): Route[] {
  const config = parseV2rayServerConfig(deps.env);
  const routes: Route[] = [];
  if (config.uuids.length > 0) {
    routes.push(vlessRoute(deps, config.uuids), vmessRoute(deps, config.uuids.map(vmessUser)));
  }
  if (config.ss) routes.push(shadowsocksRoute(deps, config.ss));
  return routes;
}

/**
 * Folds `--uid/--ss-pass/--ss-crypt` into the environment the route factory reads (flags win
 * over SM_* variables), and validates the result so bad values fail at start-up.
 */
export function applyV2rayFlags(
  flags: { uid?: string[]; ssPass?: string; ssCrypt?: string },
  env: NodeJS.ProcessEnv,
): void {
  if (flags.uid && flags.uid.length > 0) env.SM_UID = flags.uid.join(',');
  if (flags.ssPass !== undefined) env.SM_SS_PASS = flags.ssPass;
  if (flags.ssCrypt !== undefined) env.SM_SS_CRYPT = flags.ssCrypt;
  parseV2rayServerConfig(env);
}
