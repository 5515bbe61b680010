#!/bin/sh
# Container entrypoint of the SeaMoon tunnel server.
#
#   entrypoint.sh server -p 9000 [-t websocket|grpc] ...   run the server (arguments go to seamoon)
#   entrypoint.sh healthcheck                              probe the running server (Docker HEALTHCHECK)
#
# With SEAMOON_TOR=true, Tor is started first (SOCKS on 127.0.0.1:9050) and the server waits for
# its port, so `.onion` targets and SM-ONION streams work from the first connection. The server then
# replaces this shell (exec), so it receives the platform's SIGTERM directly.
#
# Everything the script runs can be overridden, which is how it is tested outside a container:
#   SEAMOON_NODE        node binary                      (node)
#   SEAMOON_BUNDLE      server bundle                    (/app/seamoon-server.mjs)
#   SEAMOON_NODE_FLAGS  V8 flags that keep the process inside a 64 MiB container limit
#   SEAMOON_TOR_BIN     tor binary                       (tor)
#   SEAMOON_TOR_SOCKS   Tor SOCKS address                (127.0.0.1:9050)
#   SEAMOON_TOR_DATA    Tor data directory               (/tmp/seamoon-tor)
#   SEAMOON_TOR_WAIT    seconds to wait for Tor's port   (30)
#   SEAMOON_TORRC       extra torrc (bridges, exit countries, ...) read before the options above
#   SEAMOON_HEALTH_URL  what `healthcheck` probes        (http://127.0.0.1:9000/_health; tcp://host:port for gRPC)
#   MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_  glibc malloc tuning (2, 65536)
set -eu

NODE_BIN="${SEAMOON_NODE:-node}"
BUNDLE="${SEAMOON_BUNDLE:-/app/seamoon-server.mjs}"
# --no-opt: without TurboFan the relay's JS allocates more short-lived objects, so young-generation
# collections run several times as often and free the socket buffers they keep alive about that
# much sooner. That is what holds 200 concurrent streams under 64 MiB (bench/memory.bench.ts),
# for about a third less CPU headroom per byte (still several hundred MB/s on one core).
NODE_FLAGS="${SEAMOON_NODE_FLAGS:---max-old-space-size=32 --max-semi-space-size=1 --no-opt}"
TOR_BIN="${SEAMOON_TOR_BIN:-tor}"
TOR_SOCKS="${SEAMOON_TOR_SOCKS:-127.0.0.1:9050}"
TOR_DATA="${SEAMOON_TOR_DATA:-/tmp/seamoon-tor}"
TOR_WAIT="${SEAMOON_TOR_WAIT:-30}"
# glibc keeps one malloc arena per thread and holds on to freed socket buffers. Two arenas, and
# mmap for blocks of 64 KiB and more (node's socket read size), hand memory back to the system
# after a burst of streams instead of keeping the container near its limit (bench/memory.bench.ts).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-65536}"

log() {
  echo "entrypoint: $*" >&2
}

# Succeeds once something accepts TCP connections on host:port (node is the only tool we can count on).
port_open() {
  "$NODE_BIN" -e '
    const [host, port] = [process.argv[1].replace(/:\d+$/, "").replace(/^\[|\]$/g, ""), Number(process.argv[1].replace(/^.*:/, ""))];
    const socket = require("net").connect({ host, port, timeout: 1000 });
    socket.once("connect", () => process.exit(0));
    socket.once("error", () => process.exit(1));
    socket.once("timeout", () => process.exit(1));
  ' "$1"
}

healthcheck() {
  url="${SEAMOON_HEALTH_URL:-http://127.0.0.1:9000/_health}"
  case "$url" in
    tcp://*)
      port_open "${url#tcp://}"
      exit 0
      ;;
    *)
      exec "$NODE_BIN" -e '
        fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
          .then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1));
      ' "$url"
      ;;
  esac
}

# Command-line options override the torrc, so a custom torrc can add settings but not move the port.
run_tor() {
  if [ -n "${SEAMOON_TORRC:-}" ]; then
    "$TOR_BIN" -f "$SEAMOON_TORRC" "$@"
  else
    "$TOR_BIN" "$@"
  fi
}

start_tor() {
  mkdir -p "$TOR_DATA"
  chmod 700 "$TOR_DATA"
  log "starting tor (SOCKS on $TOR_SOCKS)"
  # RunAsDaemon returns once tor has forked; AssumeReachable matches the original image's torrc.
  run_tor --SocksPort "$TOR_SOCKS" --DataDirectory "$TOR_DATA" --RunAsDaemon 1 \
    --AssumeReachable 1 --Log "notice file $TOR_DATA/tor.log" ||
    {
      log "tor failed to start (exit $?)"
      exit 1
    }
  waited=0
  until port_open "$TOR_SOCKS"; do
    waited=$((waited + 1))
    if [ "$waited" -ge "$TOR_WAIT" ]; then
      # The tunnel itself still works; only Tor-routed streams will fail until tor comes up.
      log "tor's SOCKS port $TOR_SOCKS did not open within ${TOR_WAIT}s; continuing without waiting"
      return 0
    fi
    sleep 1
  done
  log "tor is accepting connections on $TOR_SOCKS"
}

# The original image's start command was `/app/seamoon server ...`; accept that spelling too.
case "${1:-}" in
  seamoon | /app/seamoon) shift ;;
  healthcheck) healthcheck ;;
esac

if [ "${SEAMOON_TOR:-}" = "true" ]; then
  start_tor
  export SEAMOON_TOR_SOCKS="$TOR_SOCKS"
fi

# Word splitting of NODE_FLAGS is intended: it holds several flags.
# shellcheck disable=SC2086
exec "$NODE_BIN" $NODE_FLAGS "$BUNDLE" "$@"
