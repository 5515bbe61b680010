/**
 * Kubernetes objects for one SeaMoon tunnel server: Secret (token and other SM_* values) +
 * Deployment + Service + Ingress (+ an optional HPA for more replicas, hence more egress IPs).
 *
 * One source of truth: `scripts/gen-manifests.ts` writes `deploy/kubernetes/*.yaml` from these
 * functions and a Kubernetes provider sends the same objects to the API server. The shapes follow
 * Sealos App Launchpad's conventions (labels, annotations, request = 10 % of the limit) so an app
 * created here shows up, and can be managed, in the Sealos UI.
 */

export type TunnelKind = 'websocket' | 'grpc';

/** The container port each tunnel kind listens on (the seed's convention). */
export const TUNNEL_PORTS: Record<TunnelKind, number> = { websocket: 9000, grpc: 8089 };

export const DEFAULT_IMAGE = 'ghcr.io/seamoon/seamoon-server:latest';
export const MANAGED_BY = 'seamoon';

export interface ResourceSpec {
  cpu: string;
  memory: string;
}

export interface HpaOptions {
  minReplicas: number;
  maxReplicas: number;
  /** Scale out above this average CPU use (percent of the request). */
  targetCpuPercent: number;
}

export interface ManifestOptions {
  /** App name: resource names, the `app` label and the Secret name (Sealos deletes `<app>` secrets with the app). */
  name: string;
  kind: TunnelKind;
  /** Public host the ingress answers for, e.g. `abcdefghijkl.usw-1.sealos.app`. */
  host: string;
  image?: string;
  namespace?: string;
  replicas?: number;
  /** SM_TOKEN and, optionally, SM_UID / SM_SS_PASS / SM_SS_CRYPT / SM_CASCADE_* / SEAMOON_TOR. */
  secretEnv: Record<string, string>;
  /** Wildcard certificate of the platform (App Launchpad default `wildcard-cert`). */
  tlsSecretName?: string;
  limits?: ResourceSpec;
  requests?: ResourceSpec;
  /** Idle read/send timeout of the ingress in seconds (long-lived tunnels). */
  proxyTimeoutSeconds?: number;
  hpa?: HpaOptions;
}

// Minimal typed subsets of the Kubernetes API objects we emit (no client library needed).

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  type: 'Opaque';
  stringData: Record<string, string>;
}

/** HTTP probe on `/_health` (WebSocket server) or a TCP probe (the gRPC server speaks HTTP/2 only). */
export interface Probe {
  httpGet?: { path: string; port: number };
  tcpSocket?: { port: number };
  initialDelaySeconds?: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface Container {
  name: string;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent';
  args: string[];
  ports: { name: string; containerPort: number; protocol: 'TCP' }[];
  envFrom: { secretRef: { name: string } }[];
  resources: { limits: ResourceSpec; requests: ResourceSpec };
  readinessProbe: Probe;
  livenessProbe: Probe;
  securityContext: {
    runAsNonRoot: true;
    runAsUser: number;
    runAsGroup: number;
    allowPrivilegeEscalation: false;
    readOnlyRootFilesystem: boolean;
    capabilities: { drop: string[] };
  };
}

export interface Deployment {
  apiVersion: 'apps/v1';
  kind: 'Deployment';
  metadata: ObjectMeta;
  spec: {
    replicas: number;
    revisionHistoryLimit: number;
    selector: { matchLabels: Record<string, string> };
    strategy: { type: 'RollingUpdate'; rollingUpdate: { maxUnavailable: number; maxSurge: number } };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        automountServiceAccountToken: false;
        terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot: true; seccompProfile: { type: 'RuntimeDefault' } };
        containers: Container[];
      };
    };
  };
}

export interface Service {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: {
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: number; protocol: 'TCP' }[];
  };
}

export interface Ingress {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'Ingress';
  metadata: ObjectMeta;
  spec: {
    rules: {
      host: string;
      http: {
        paths: {
          path: string;
          pathType: 'Prefix';
          backend: { service: { name: string; port: { number: number } } };
        }[];
      };
    }[];
    tls: { hosts: string[]; secretName: string }[];
  };
}

export interface HorizontalPodAutoscaler {
  apiVersion: 'autoscaling/v2';
  kind: 'HorizontalPodAutoscaler';
  metadata: ObjectMeta;
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1'; kind: 'Deployment'; name: string };
    minReplicas: number;
    maxReplicas: number;
    metrics: {
      type: 'Resource';
      resource: { name: 'cpu'; target: { type: 'Utilization'; averageUtilization: number } };
    }[];
  };
}

export type TunnelObject = Secret | Deployment | Service | Ingress | HorizontalPodAutoscaler;

const DEFAULT_LIMITS: ResourceSpec = { cpu: '100m', memory: '64Mi' };
const DEFAULT_REQUESTS: ResourceSpec = { cpu: '10m', memory: '32Mi' };
/** The image's non-root user (see deploy/Dockerfile). */
const RUN_AS = 10001;

function meta(options: ManifestOptions, extra: Partial<ObjectMeta> = {}): ObjectMeta {
  const labels = {
    app: options.name,
    'cloud.sealos.io/app-deploy-manager': options.name,
    'app.kubernetes.io/managed-by': MANAGED_BY,
    ...extra.labels,
  };
  const out: ObjectMeta = { name: options.name };
  if (options.namespace) out.namespace = options.namespace;
  out.labels = labels;
  if (extra.annotations) out.annotations = extra.annotations;
  return out;
}

export function buildSecret(options: ManifestOptions): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(options),
    type: 'Opaque',
    stringData: { ...options.secretEnv },
  };
}

function healthProbe(
  kind: TunnelKind,
  port: number,
  failureThreshold: number,
  initialDelaySeconds?: number,
): Probe {
  // Kubelet's HTTP probes speak HTTP/1.1, which an h2c gRPC listener does not answer.
  const check: Pick<Probe, 'httpGet' | 'tcpSocket'> =
    kind === 'grpc' ? { tcpSocket: { port } } : { httpGet: { path: '/_health', port } };
  const probe: Probe = {
    ...check,
    periodSeconds: 10,
    timeoutSeconds: 2,
    failureThreshold,
  };
  if (initialDelaySeconds !== undefined) probe.initialDelaySeconds = initialDelaySeconds;
  return probe;
}

export function buildDeployment(options: ManifestOptions): Deployment {
  const port = TUNNEL_PORTS[options.kind];
  const image = options.image ?? DEFAULT_IMAGE;
  const replicas = options.replicas ?? 1;
  // With an HPA the UI shows its range; without one min = max = replicas.
  const minReplicas = options.hpa?.minReplicas ?? replicas;
  const maxReplicas = options.hpa?.maxReplicas ?? replicas;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(options, {
      annotations: {
        originImageName: image,
        'deploy.cloud.sealos.io/minReplicas': String(minReplicas),
        'deploy.cloud.sealos.io/maxReplicas': String(maxReplicas),
        'deploy.cloud.sealos.io/resize': '0Gi',
      },
    }),
    spec: {
      replicas,
      revisionHistoryLimit: 1,
      selector: { matchLabels: { app: options.name } },
      // A new pod must be ready before the old one goes: tunnels never drop to zero servers.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels: { app: options.name } },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 10,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: options.name,
              image,
              imagePullPolicy: 'Always',
              // Arguments only, so the image's entrypoint (which starts Tor when asked) still runs.
              args: ['server', '-p', String(port), '-t', options.kind],
              ports: [{ name: 'tunnel', containerPort: port, protocol: 'TCP' }],
              envFrom: [{ secretRef: { name: options.name } }],
              resources: {
                limits: { ...(options.limits ?? DEFAULT_LIMITS) },
                requests: { ...(options.requests ?? DEFAULT_REQUESTS) },
              },
              readinessProbe: healthProbe(options.kind, port, 3, 1),
              livenessProbe: healthProbe(options.kind, port, 6, 10),
              securityContext: {
                runAsNonRoot: true,
                runAsUser: RUN_AS,
                runAsGroup: RUN_AS,
                allowPrivilegeEscalation: false,
                // Tor writes its data directory, so the root filesystem stays writable.
                readOnlyRootFilesystem: false,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

export function buildService(options: ManifestOptions): Service {
  const port = TUNNEL_PORTS[options.kind];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(options),
    spec: {
      selector: { app: options.name },
      ports: [{ name: 'tunnel', port, targetPort: port, protocol: 'TCP' }],
    },
  };
}

export function buildIngress(options: ManifestOptions): Ingress {
  const port = TUNNEL_PORTS[options.kind];
  const timeout = String(options.proxyTimeoutSeconds ?? 3600);
  const hostLabel = options.host.split('.')[0] ?? options.host;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: meta(options, {
      labels: { 'cloud.sealos.io/app-deploy-manager-domain': hostLabel },
      annotations: {
        // App Launchpad still writes the legacy class annotation; spec.ingressClassName is left out
        // because the API server rejects the pair when they differ.
        'kubernetes.io/ingress.class': 'nginx',
        'nginx.ingress.kubernetes.io/proxy-body-size': '32m',
        'nginx.ingress.kubernetes.io/ssl-redirect': 'false',
        'nginx.ingress.kubernetes.io/backend-protocol': options.kind === 'grpc' ? 'GRPC' : 'WS',
        'nginx.ingress.kubernetes.io/proxy-read-timeout': timeout,
        'nginx.ingress.kubernetes.io/proxy-send-timeout': timeout,
      },
    }),
    spec: {
      rules: [
        {
          host: options.host,
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                // The real container port (the original hard-coded 9000, which broke gRPC).
                backend: { service: { name: options.name, port: { number: port } } },
              },
            ],
          },
        },
      ],
      tls: [{ hosts: [options.host], secretName: options.tlsSecretName ?? 'wildcard-cert' }],
    },
  };
}

export function buildHpa(options: ManifestOptions & { hpa: HpaOptions }): HorizontalPodAutoscaler {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(options),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: options.name },
      minReplicas: options.hpa.minReplicas,
      maxReplicas: options.hpa.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: { type: 'Utilization', averageUtilization: options.hpa.targetCpuPercent },
          },
        },
      ],
    },
  };
}

/** Every object for one tunnel server, in the order they should be applied. */
export function buildTunnelManifests(options: ManifestOptions): TunnelObject[] {
  validate(options);
  const objects: TunnelObject[] = [
    buildSecret(options),
    buildDeployment(options),
    buildService(options),
    buildIngress(options),
  ];
  if (options.hpa) objects.push(buildHpa({ ...options, hpa: options.hpa }));
  return objects;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function validate(options: ManifestOptions): void {
  if (!DNS_LABEL.test(options.name)) {
    throw new RangeError(`app name "${options.name}" is not a DNS label (lower-case letters, digits, "-")`);
  }
  if (!options.host.split('.').every((label) => DNS_LABEL.test(label))) {
    throw new RangeError(`ingress host "${options.host}" is not a valid DNS name`);
  }
  if (options.hpa && options.hpa.minReplicas > options.hpa.maxReplicas) {
    throw new RangeError('hpa.minReplicas must not exceed hpa.maxReplicas');
  }
}

// --- YAML output ----------------------------------------------------------------------------

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/**
 * A small YAML emitter for plain data. Every string scalar is written as a JSON string (a valid
 * YAML double-quoted scalar), so values like `"0"`, `"3600"`, `"true"` or `"off"` can never be
 * re-typed by a YAML reader; keys are written bare when they are plain identifiers.
 */
export function toYaml(value: unknown): string {
  return `${emit(value as Plain, 0).join('\n')}\n`;
}

/** Several objects as one multi-document YAML stream. */
export function toYamlDocuments(values: unknown[]): string {
  return values.map((value) => toYaml(value)).join('---\n');
}

function scalar(value: Plain): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  return Array.isArray(value) ? '[]' : '{}';
}

/** Words a YAML 1.1 reader turns into booleans or null even as keys. */
const RESERVED_WORDS = new Set(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null']);

function key(name: string): string {
  const bare = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/.test(name) && !RESERVED_WORDS.has(name.toLowerCase());
  return bare ? name : JSON.stringify(name);
}

function isNested(value: Plain): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

function emit(value: Plain, indent: number): string[] {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${pad}[]`];
    const lines: string[] = [];
    for (const item of value) {
      if (!isNested(item)) {
        lines.push(`${pad}- ${scalar(item)}`);
        continue;
      }
      const inner = emit(item, indent + 2);
      // First line of the item goes after the dash.
      lines.push(`${pad}- ${inner[0]?.trimStart()}`, ...inner.slice(1));
    }
    return lines;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return [`${pad}{}`];
    const lines: string[] = [];
    for (const [name, child] of entries) {
      if (isNested(child)) lines.push(`${pad}${key(name)}:`, ...emit(child, indent + 2));
      else lines.push(`${pad}${key(name)}: ${scalar(child)}`);
    }
    return lines;
  }
  return [`${pad}${scalar(value)}`];
}
