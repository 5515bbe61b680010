/**
 * Errors are values with a code a user (or a protocol reply) can act on.
 * Every layer converts foreign errors with `toSeamoonError` at its edge.
 */
export type ErrorCode =
  | 'BAD_ADDRESS'
  | 'BAD_REQUEST'
  | 'AUTH_FAILED'
  | 'EGRESS_DENIED'
  | 'DNS_FAILED'
  | 'CONNECTION_REFUSED'
  | 'HOST_UNREACHABLE'
  | 'NETWORK_UNREACHABLE'
  | 'DIAL_TIMEOUT'
  | 'TTL_EXPIRED'
  | 'TUNNEL_UNAVAILABLE'
  | 'UNSUPPORTED_COMMAND'
  | 'UNSUPPORTED_ADDRESS'
  | 'HANDSHAKE_TIMEOUT'
  | 'CLOSED'
  | 'GENERAL';

export class SeamoonError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SeamoonError';
  }
}

const errnoToCode: Record<string, ErrorCode> = {
  ECONNREFUSED: 'CONNECTION_REFUSED',
  ECONNRESET: 'CLOSED',
  EPIPE: 'CLOSED',
  ENOTFOUND: 'DNS_FAILED',
  EAI_AGAIN: 'DNS_FAILED',
  EAI_FAIL: 'DNS_FAILED',
  EAI_NODATA: 'DNS_FAILED',
  EHOSTUNREACH: 'HOST_UNREACHABLE',
  EHOSTDOWN: 'HOST_UNREACHABLE',
  ENETUNREACH: 'NETWORK_UNREACHABLE',
  ENETDOWN: 'NETWORK_UNREACHABLE',
  EADDRNOTAVAIL: 'NETWORK_UNREACHABLE',
  ETIMEDOUT: 'DIAL_TIMEOUT',
  ABORT_ERR: 'DIAL_TIMEOUT',
};

export function toSeamoonError(err: unknown): SeamoonError {
  if (err instanceof SeamoonError) return err;
  if (err instanceof Error) {
    const errno = (err as NodeJS.ErrnoException).code;
    const code = (errno && errnoToCode[errno]) || 'GENERAL';
    return new SeamoonError(code, err.message, { cause: err });
  }
  return new SeamoonError('GENERAL', String(err));
}

/** RFC 1928 §6 reply field for an error code. */
export function socksReplyFor(code: ErrorCode): number {
  switch (code) {
    case 'EGRESS_DENIED':
    case 'AUTH_FAILED':
      return 0x02;
    case 'NETWORK_UNREACHABLE':
      return 0x03;
    case 'HOST_UNREACHABLE':
    case 'DNS_FAILED':
    case 'DIAL_TIMEOUT':
      return 0x04;
    case 'CONNECTION_REFUSED':
      return 0x05;
    case 'TTL_EXPIRED':
      return 0x06;
    case 'UNSUPPORTED_COMMAND':
      return 0x07;
    case 'UNSUPPORTED_ADDRESS':
      return 0x08;
    default:
      return 0x01;
  }
}

/** The inverse, for clients that learn the outcome from a SOCKS reply. */
export function codeForSocksReply(reply: number): ErrorCode {
  const table: Record<number, ErrorCode> = {
    2: 'EGRESS_DENIED',
    3: 'NETWORK_UNREACHABLE',
    4: 'HOST_UNREACHABLE',
    5: 'CONNECTION_REFUSED',
    6: 'TTL_EXPIRED',
    7: 'UNSUPPORTED_COMMAND',
    8: 'UNSUPPORTED_ADDRESS',
  };
  return table[reply] ?? 'GENERAL';
}

/**
 * HTTP proxy status for an error the outbound reported (RFC 9110: 403 policy, 502 bad gateway,
 * 504 timeout). AUTH_FAILED here means the tunnel or upstream refused *us*, which is a gateway
 * failure (502); the app's own missing/wrong proxy credentials are answered 407 by the handler.
 */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'BAD_ADDRESS':
    case 'BAD_REQUEST':
      return 400;
    case 'EGRESS_DENIED':
      return 403;
    case 'DIAL_TIMEOUT':
      return 504;
    default:
      return 502;
  }
}
