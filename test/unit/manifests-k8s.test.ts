import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { exampleOptions, MANIFEST_DIR, renderExampleFiles } from '../../scripts/gen-manifests.js';
import {
  buildTunnelManifests,
  type Deployment,
  type Ingress,
  type Secret,
  type Service,
  toYaml,
  toYamlDocuments,
} from '../../src/providers/kubernetes/manifests.js';

/** Parses YAML with the system's PyYAML (there is no YAML parser among the npm packages). */
function parseYamlDocuments(text: string): unknown[] | undefined {
  const script = 'import json,sys,yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))';
  const result = spawnSync('python3', ['-c', script], { input: text, encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  return JSON.parse(result.stdout) as unknown[];
}
const hasPyYaml = parseYamlDocuments('a: 1') !== undefined;

function byKind<T>(objects: unknown[], kind: string): T {
  const found = objects.find((o) => (o as { kind: string }).kind === kind);
  assert.ok(found, `no ${kind}`);
  return found as T;
}

describe('kubernetes manifests', () => {
  test('deploy/kubernetes files are exactly what the generator writes', () => {
    const files = renderExampleFiles();
    assert.ok(Object.keys(files).length >= 3);
    for (const [name, text] of Object.entries(files)) {
      assert.equal(
        readFileSync(join(MANIFEST_DIR, name), 'utf8'),
        text,
        `${name} is stale: npm run gen:manifests`,
      );
    }
  });

  test('the YAML files parse into the generator objects', {
    skip: !hasPyYaml && 'python3-yaml missing',
  }, () => {
    for (const kind of ['websocket', 'grpc'] as const) {
      const text = readFileSync(join(MANIFEST_DIR, `seamoon-${kind}.yaml`), 'utf8');
      const parsed = parseYamlDocuments(text);
      assert.deepEqual(parsed, JSON.parse(JSON.stringify(buildTunnelManifests(exampleOptions(kind)))));
    }
  });

  test('websocket variant: port 9000, WS ingress, health probes, 64Mi/100m limits, rolling update', () => {
    const objects = buildTunnelManifests({
      name: 'seamoon-ws',
      kind: 'websocket',
      host: 'abcdefghijkl.usw-1.sealos.app',
      secretEnv: { SM_TOKEN: 't0k3n' },
    });
    assert.deepEqual(
      objects.map((o) => o.kind),
      ['Secret', 'Deployment', 'Service', 'Ingress'],
    );
    const secret = byKind<Secret>(objects, 'Secret');
    assert.equal(secret.stringData.SM_TOKEN, 't0k3n');
    const deployment = byKind<Deployment>(objects, 'Deployment');
    const container = deployment.spec.template.spec.containers[0]!;
    assert.deepEqual(container.args, ['server', '-p', '9000', '-t', 'websocket']);
    assert.deepEqual(container.resources.limits, { cpu: '100m', memory: '64Mi' });
    assert.deepEqual(container.resources.requests, { cpu: '10m', memory: '32Mi' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/_health', port: 9000 });
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/_health', port: 9000 });
    assert.deepEqual(container.envFrom, [{ secretRef: { name: 'seamoon-ws' } }]);
    // The token travels through the Secret only, never in the Deployment spec.
    assert.ok(!JSON.stringify(deployment).includes('t0k3n'));
    assert.equal(container.securityContext.runAsNonRoot, true);
    assert.deepEqual(deployment.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
    const service = byKind<Service>(objects, 'Service');
    assert.deepEqual(service.spec.ports[0], {
      name: 'tunnel',
      port: 9000,
      targetPort: 9000,
      protocol: 'TCP',
    });
    const ingress = byKind<Ingress>(objects, 'Ingress');
    const annotations = ingress.metadata.annotations ?? {};
    assert.equal(annotations['nginx.ingress.kubernetes.io/backend-protocol'], 'WS');
    assert.equal(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600');
    assert.equal(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'], '3600');
    assert.equal(annotations['nginx.ingress.kubernetes.io/proxy-body-size'], '32m');
    assert.equal(ingress.spec.rules[0]!.host, 'abcdefghijkl.usw-1.sealos.app');
    assert.deepEqual(ingress.spec.tls, [
      { hosts: ['abcdefghijkl.usw-1.sealos.app'], secretName: 'wildcard-cert' },
    ]);
  });

  test('grpc variant targets the real port 8089 with a GRPC backend', () => {
    const objects = buildTunnelManifests({
      name: 'seamoon-grpc',
      kind: 'grpc',
      host: 'mnopqrstuvwx.usw-1.sealos.app',
      secretEnv: { SM_TOKEN: 'x' },
      hpa: { minReplicas: 2, maxReplicas: 4, targetCpuPercent: 50 },
    });
    const ingress = byKind<Ingress>(objects, 'Ingress');
    assert.equal(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/backend-protocol'], 'GRPC');
    assert.equal(ingress.spec.rules[0]!.http.paths[0]!.backend.service.port.number, 8089);
    const deployment = byKind<Deployment>(objects, 'Deployment');
    const container = deployment.spec.template.spec.containers[0]!;
    assert.deepEqual(container.args, ['server', '-p', '8089', '-t', 'grpc']);
    assert.deepEqual(container.readinessProbe.tcpSocket, { port: 8089 });
    assert.equal(deployment.metadata.annotations?.['deploy.cloud.sealos.io/maxReplicas'], '4');
    assert.equal(objects.at(-1)?.kind, 'HorizontalPodAutoscaler');
  });

  test('bad names are rejected before anything is built', () => {
    const base = { kind: 'websocket' as const, host: 'a.example.com', secretEnv: {} };
    assert.throws(() => buildTunnelManifests({ ...base, name: 'Bad_Name' }), /DNS label/);
    assert.throws(() => buildTunnelManifests({ ...base, name: 'ok', host: 'bad host' }), /valid DNS name/);
    assert.throws(
      () =>
        buildTunnelManifests({
          ...base,
          name: 'ok',
          hpa: { minReplicas: 3, maxReplicas: 1, targetCpuPercent: 50 },
        }),
      /minReplicas/,
    );
  });

  test('toYaml keeps strings that look like other types as strings', {
    skip: !hasPyYaml && 'python3-yaml missing',
  }, () => {
    const value = {
      zero: '0',
      yes: 'true',
      off: 'off',
      colon: 'a: b',
      hash: '#not a comment',
      multi: 'line1\nline2',
      'key with space': 1,
      list: [[], {}, ['nested'], { a: null }],
      empty: {},
    };
    assert.deepEqual(parseYamlDocuments(toYaml(value)), [value]);
    assert.deepEqual(parseYamlDocuments(toYamlDocuments([{ a: 1 }, { b: [true] }])), [
      { a: 1 },
      { b: [true] },
    ]);
  });
});
