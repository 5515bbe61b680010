import type { Duplex } from 'node:stream';
import type { Outbound, UdpSession } from '../../outbound/types.js';

/** Live numbers for one tunnel, as its connections flow. */
export class TrafficCounter {
  active = 0;
  bytesUp = 0;
  bytesDown = 0;
  lastError = '';
}

/**
 * Counts bytes through every stream an outbound opens by hooking the stream's own `write`
 * and its `data` events: no extra stream layer and no copy, so the counted path is as fast as the
 * uncounted one. Datagrams of UDP sessions are counted as they are sent and received.
 */
export function countingOutbound(inner: Outbound, counter: TrafficCounter): Outbound {
  const outbound: Outbound = {
    name: inner.name,
    async dial(target, options) {
      let stream: Duplex;
      try {
        stream = await inner.dial(target, options);
      } catch (err) {
        counter.lastError = err instanceof Error ? err.message : String(err);
        throw err;
      }
      counter.active += 1;
      stream.once('close', () => {
        counter.active -= 1;
      });
      const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (chunk instanceof Uint8Array) counter.bytesUp += chunk.byteLength;
        else if (typeof chunk === 'string') counter.bytesUp += Buffer.byteLength(chunk);
        return write(chunk, ...rest);
      }) as Duplex['write'];
      // Counted where the bytes are delivered to the reader ('data', which read() emits too),
      // not at push(): in a Transform, push() also carries the bytes we just counted as written.
      const emit = stream.emit.bind(stream) as (event: string | symbol, ...args: unknown[]) => boolean;
      stream.emit = ((event: string | symbol, ...args: unknown[]) => {
        if (event === 'data' && args[0] instanceof Uint8Array) counter.bytesDown += args[0].byteLength;
        return emit(event, ...args);
      }) as Duplex['emit'];
      return stream;
    },
  };
  if (inner.openUdp) {
    const openUdp = inner.openUdp.bind(inner);
    outbound.openUdp = async (options): Promise<UdpSession> => {
      const session = await openUdp(options);
      counter.active += 1;
      session.onClose(() => {
        counter.active -= 1;
      });
      session.onMessage((_source, payload) => {
        counter.bytesDown += payload.length;
      });
      return {
        send(target, payload) {
          counter.bytesUp += payload.length;
          session.send(target, payload);
        },
        onMessage: (listener) => session.onMessage(listener),
        onClose: (listener) => session.onClose(listener),
        close: () => session.close(),
      };
    };
  }
  return outbound;
}
