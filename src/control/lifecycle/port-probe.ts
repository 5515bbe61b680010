import { createServer } from 'node:net';

/**
 * Tries to bind host:port and releases it at once. Resolves with the OS error code when
 * the port cannot be used (EADDRINUSE, EACCES, EADDRNOTAVAIL), or undefined when it is free.
 */
export function probePort(host: string, port: number): Promise<string | undefined> {
  if (port === 0) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'EADDRINUSE'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** The words a user needs for a bind failure. */
export function describeBindError(code: string, host: string, port: number): string {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `port ${where} is already in use`;
    case 'EACCES':
      return `no permission to listen on ${where}`;
    case 'EADDRNOTAVAIL':
      return `address ${host} is not available on this machine`;
    default:
      return `cannot listen on ${where} (${code})`;
  }
}
