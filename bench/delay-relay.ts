/**
 * A userspace stand-in for `tc netem` (not available here): a TCP relay on 127.0.0.1 that
 * holds every chunk for RTT/2 in each direction, keeping order and FIN. It also charges a
 * fresh connection its TCP handshake: bytes the client sends cannot leave before one RTT
 * after it connected (SYN + SYN-ACK), exactly as on a real path. A connection that is
 * already open (a warm tunnel) pays only RTT/2 per direction.
 *
 *   const relay = await startDelayRelay({ upstreamPort: 9000, rttMs: 50 });
 *   // clients connect to relay.port instead of 9000
 */
import { type AddressInfo, createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface DelayRelay {
  port: number;
  /** Connections accepted so far (fresh TCP handshakes paid). */
  connections(): number;
  close(): Promise<void>;
}

interface Pending {
  due: number;
  chunk?: Buffer;
  end?: true;
}

/** Delivers chunks to `to` in order, each no earlier than its due time. */
class DelayedPipe {
  readonly #to: Socket;
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastDue = 0;

  constructor(to: Socket) {
    this.#to = to;
  }

  schedule(item: Omit<Pending, 'due'>, due: number): void {
    // Never overtake an earlier chunk: TCP keeps order.
    const at = Math.max(due, this.#lastDue);
    this.#lastDue = at;
    this.#queue.push({ ...item, due: at });
    if (!this.#timer) this.#arm();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #arm(): void {
    const head = this.#queue[0];
    if (!head) return;
    this.#timer = setTimeout(() => this.#flush(), Math.max(0, head.due - performance.now()));
  }

  #flush(): void {
    this.#timer = undefined;
    const now = performance.now();
    while (this.#queue.length > 0 && this.#queue[0].due <= now + 0.5) {
      const item = this.#queue.shift()!;
      if (this.#to.destroyed) continue;
      if (item.chunk) this.#to.write(item.chunk);
      if (item.end) this.#to.end();
    }
    this.#arm();
  }
}

export async function startDelayRelay(options: {
  upstreamPort: number;
  upstreamHost?: string;
  rttMs: number;
}): Promise<DelayRelay> {
  const oneWay = options.rttMs / 2;
  const sockets = new Set<Socket>();
  let accepted = 0;

  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    accepted += 1;
    const connectedAt = performance.now();
    const upstream = tcpConnect({
      port: options.upstreamPort,
      host: options.upstreamHost ?? '127.0.0.1',
      allowHalfOpen: true,
      noDelay: true,
    });
    sockets.add(client);
    sockets.add(upstream);
    const toUpstream = new DelayedPipe(upstream);
    const toClient = new DelayedPipe(client);
    // Client bytes leave no earlier than one RTT after connect (the handshake), then take RTT/2.
    const upstreamDue = () => Math.max(performance.now(), connectedAt + options.rttMs) + oneWay;
    const clientDue = () => performance.now() + oneWay;
    client.on('data', (chunk: Buffer) => toUpstream.schedule({ chunk }, upstreamDue()));
    client.on('end', () => toUpstream.schedule({ end: true }, upstreamDue()));
    upstream.on('data', (chunk: Buffer) => toClient.schedule({ chunk }, clientDue()));
    upstream.on('end', () => toClient.schedule({ end: true }, clientDue()));
    const teardown = () => {
      toUpstream.stop();
      toClient.stop();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', teardown);
      socket.on('close', () => {
        // Let in-flight bytes of the other direction arrive before cutting it.
        setTimeout(teardown, options.rttMs).unref();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
