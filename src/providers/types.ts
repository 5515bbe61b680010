import type { Logger } from '../core/logger.js';

/**
 * A provider driver deploys, lists and destroys tunnel servers on one kind of platform
 * (the built-in `local` child process, Kubernetes/Sealos, Render, Aliyun FC, Tencent SCF).
 * Adding a platform is adding one file that implements this and one line in the console's
 * provider registry. Drivers never touch the database: the console passes in what they need
 * (decrypted credentials, the tunnel's settings and secrets) and stores what they return.
 */

/** Cloud credentials, decrypted for the duration of one call. Never log this object. */
export interface ProviderCredentials {
  access_key?: string;
  access_secret?: string;
  token?: string;
  kube_config?: string;
}

export interface ProviderCallContext {
  credentials: ProviderCredentials;
  regions: string[];
  log: Logger;
  signal?: AbortSignal;
}

export type TunnelTransport = 'websocket' | 'grpc';

/** What the console asks a driver to deploy. */
export interface TunnelDeployRequest {
  /** Stable console-side name; drivers derive remote resource names from it. */
  name: string;
  transport: TunnelTransport;
  /** Container port for platforms that let us choose it (0 = driver default). */
  port: number;
  region: string;
  cpu: number;
  memoryMiB: number;
  /** Max concurrency per instance for FaaS platforms (0 = platform default). */
  instances: number;
  tor: boolean;
  /** The previous deployment's id when redeploying (drivers may update in place). */
  previousUniqId?: string;
  /** Environment for the server: SM_TOKEN, SM_UID, SM_SS_PASS, SM_SS_CRYPT, ... */
  env: Record<string, string>;
}

export interface DeployedTunnel {
  /** Host the tunnel is reached at (no scheme). */
  address: string;
  /** Port in the URL (0 = the scheme's default). */
  port: number;
  /** Driver-side id used to destroy or recognise the deployment later. */
  uniqId: string;
  tls: boolean;
}

/** A deployment found on the platform by `list` (provider sync). */
export interface RemoteTunnel {
  uniqId: string;
  name: string;
  address: string;
  port: number;
  transport: TunnelTransport;
  tls: boolean;
  tor: boolean;
  region: string;
  running: boolean;
  message?: string;
}

export interface AccountInfo {
  /** Balance in the account's currency, when the platform reports one. */
  amount: number | null;
  cost: number | null;
}

export type ProgressReporter = (percent: number, message: string) => void;

export interface ProviderDriver {
  /** Registry name (`local`, `sealos`, `render`, ...). */
  readonly name: string;
  /**
   * True when deployments die with the console (local child processes): the console then
   * redeploys active tunnels at start instead of trusting the stored address.
   */
  readonly ephemeral: boolean;
  /** Validates credentials and reads the balance. */
  auth(ctx: ProviderCallContext): Promise<AccountInfo>;
  deploy(
    ctx: ProviderCallContext,
    request: TunnelDeployRequest,
    progress: ProgressReporter,
  ): Promise<DeployedTunnel>;
  /** Removes the deployment; resolving means nothing billable is left. */
  destroy(ctx: ProviderCallContext, uniqId: string): Promise<void>;
  list(ctx: ProviderCallContext): Promise<RemoteTunnel[]>;
  /** Releases what this process holds (child processes, sockets) at shutdown. */
  close(): Promise<void>;
}
