import type { Command } from 'commander';
import type { RawServerFlags } from '../../server/config.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const ROUTES_HELP = `
Routes (WebSocket upgrade unless noted; the token goes in "Authorization: Bearer <token>" or as
the first path segment, e.g. /<token>/socks5):
  /socks5       SOCKS5 over the stream (headers SM-UDP-ADDR for UDP ASSOCIATE, SM-ONION for Tor)
  /http         HTTP proxy over the stream (CONNECT and absolute-URI requests)
  /auto         first byte 0x05 → SOCKS5, anything else → HTTP proxy
  /socks5-udp   SOCKS5 UDP datagrams, one per message (RSV = payload length)
  /vless        VLESS (TCP and UDP) for the --uid users; no token (the UUID authenticates)
  /vmess        VMess AEAD (aes-128-gcm, chacha20-poly1305, none; TCP and UDP) for the --uid users
  /v-shadowsocks  Shadowsocks AEAD with --ss-pass/--ss-crypt (v2ray's shadowsocks-over-ws)
  /_health      plain GET, no token: OK, start time, version (for health checks)

With -t grpc (h2c, or TLS with --tls-cert/--tls-key; token as metadata "authorization: Bearer"):
  /tunnel.Tunnel/{Auto,Http,Socks5,Mux,Socks5Udp,V2raySsr,V2rayVmess,V2rayVless} serve the routes
  above; /tunnel.Tunnel/Health answers without a token; /GostTunel/Tunnel (gost clients) = auto.

Egress guard: targets in loopback, private, link-local, CGNAT, multicast and similar ranges are
refused after DNS resolution unless --allow-private or a matching --allow <cidr> is given.

Examples:
  SM_TOKEN=change-me seamoon server -p 9000
  seamoon server -a 127.0.0.1 -p 9000 --token change-me --allow 10.8.0.0/16 --idle-timeout 600`;

/** Bad command-line input: one line on stderr, exit status 2, no stack trace. */
function usageError(message: string): never {
  process.stderr.write(`seamoon server: ${message}\n`);
  process.exit(2);
}

export function defineServer(program: Command): void {
  const command = program
    .command('server')
    .description('run the tunnel server (what you deploy to a container, PaaS or FaaS)')
    .option('-a, --addr <host>', 'listen address', '0.0.0.0')
    .option('-p, --port <port>', 'listen port (0 = any free port)', '9000')
    .option('-t, --type <type>', 'transport: websocket | grpc (default: websocket)')
    .option('--proto <type>', 'same as --type (the original server spelling)')
    .option('--token <token>', 'bearer token clients must present (default: $SM_TOKEN, else generated)')
    .option('--no-auth', 'serve without any token (anyone who finds the URL can use it)')
    .option('--allow-private', 'let clients reach loopback/private/link-local targets (testing only)')
    .option('--allow <cidr>', 'let clients reach this private range (repeatable)', collect, [])
    .option('--idle-timeout <seconds>', 'close a relay after this long without traffic (0 = never)', '300')
    .option('--handshake-timeout <seconds>', 'time allowed for the upgrade and the proxy greeting', '10')
    .option('--dial-timeout <seconds>', 'time allowed to connect to a target', '10')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (logs go to stderr)', 'info')
    .option('--tls-cert <file>', 'PEM certificate: serve TLS directly, wss:// or grpcs:// (needs --tls-key)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option(
      '--tor-socks <host:port>',
      "Tor's SOCKS port for SM-ONION streams and .onion targets (default: 127.0.0.1:9050 when SEAMOON_TOR=true)",
    )
    .option('--cascade <url>', 'forward every stream through this next tunnel (default: $SM_CASCADE_ADDR)')
    .option('--cascade-token <token>', "the next tunnel's token (default: $SM_CASCADE_TOKEN)")
    .option(
      '--uid <uuid>',
      'VLESS/VMess user at /vless and /vmess (repeatable; default: $SM_UID, comma-separated)',
      collect,
      [],
    )
    .option('--ss-pass <password>', 'Shadowsocks password for /v-shadowsocks (default: $SM_SS_PASS)')
    .option(
      '--ss-crypt <cipher>',
      'aes-256-gcm | aes-128-gcm | chacha20-ietf-poly1305 (default: $SM_SS_CRYPT, else aes-256-gcm)',
    )
    .addHelpText('after', ROUTES_HELP)
    .action(async (flags: RawServerFlags) => {
      // Start loading the server while the flags are checked: start-up time is what a cold
      // FaaS request waits for.
      const loadingServer = import('../../server/run.js');
      loadingServer.catch(() => {});
      const { parseServerOptions } = await import('../../server/config.js');
      const { SeamoonError } = await import('../../core/errors.js');
      let options: ReturnType<typeof parseServerOptions>;
      try {
        options = parseServerOptions(flags);
        // The v2ray-family routes read SM_UID/SM_SS_PASS/SM_SS_CRYPT; flags take precedence.
        (await import('../../server/v2ray-routes.js')).applyV2rayFlags(flags, process.env);
      } catch (err) {
        usageError(err instanceof Error ? err.message : String(err));
      }
      const { runServer } = await loadingServer;
      try {
        await runServer(options);
      } catch (err) {
        const message = err instanceof SeamoonError ? err.message : `failed to start: ${String(err)}`;
        process.stderr.write(`seamoon server: ${message}\n`);
        process.exit(err instanceof SeamoonError && err.code === 'UNSUPPORTED_COMMAND' ? 2 : 1);
      }
    });
  // Commander exits with 1 on unknown options and bad arguments; usage errors are 2 here.
  command.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}
