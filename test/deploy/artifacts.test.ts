import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../helpers/processes.js';

/**
 * No Docker engine runs here, so the Dockerfile is checked for what the tests elsewhere rely on:
 * it builds with the same npm scripts the tests run, copies the bundle those scripts produce, and
 * starts it through the tested entrypoint.
 */

const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const scripts = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
).scripts;

/** Instructions per stage, with line continuations joined. */
function stages(text: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  let current: string[] | undefined;
  const lines = text.replace(/\\\n\s*/g, ' ').split('\n');
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const from = trimmed.match(/^FROM\s+\S+\s+AS\s+(\S+)/i);
    if (from) {
      current = [];
      result.set(from[1]!, current);
    } else {
      current?.push(trimmed);
    }
  }
  return result;
}

function parseYaml(path: string): unknown {
  const result = spawnSync(
    'python3',
    ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
    {
      input: readFileSync(join(ROOT, path), 'utf8'),
      encoding: 'utf8',
    },
  );
  return result.status === 0 ? JSON.parse(result.stdout) : undefined;
}
const hasPyYaml = spawnSync('python3', ['-c', 'import yaml']).status === 0;

describe('deploy/Dockerfile', () => {
  const byStage = stages(dockerfile);

  test('every npm script it runs exists', () => {
    const used = [...dockerfile.matchAll(/npm run ([\w:-]+)/g)].map((m) => m[1]!);
    assert.ok(used.includes('build:server'));
    for (const name of used) assert.ok(scripts[name], `package.json has no "${name}" script`);
  });

  test('the server image is the default target and holds only node, tor, the bundle and the entrypoint', () => {
    assert.equal([...byStage.keys()].at(-1), 'server');
    const server = byStage.get('server')!;
    const copies = server.filter((line) => line.startsWith('COPY'));
    assert.deepEqual(copies, [
      'COPY --from=server-build /src/dist/seamoon-server.mjs /app/seamoon-server.mjs',
      'COPY deploy/entrypoint.sh /app/entrypoint.sh',
    ]);
    assert.ok(server.some((line) => /apt-get install .*\btor\b/.test(line)));
    assert.ok(server.includes('ENTRYPOINT ["/app/entrypoint.sh"]'));
    assert.ok(server.includes('CMD ["server", "-p", "9000"]'));
    assert.ok(server.includes('EXPOSE 9000 8089'));
    assert.ok(server.some((line) => /^HEALTHCHECK .*healthcheck/.test(line)));
    const user = server.find((line) => line.startsWith('USER'));
    assert.ok(user && !/^USER\s+(0|root)\b/.test(user), 'runs as a non-root user');
    // The build stage produces the bundle with the npm script the bundle tests run.
    assert.ok(byStage.get('server-build')!.some((line) => line.includes('npm run build:server')));
  });

  test('the client target keeps its data in a /data volume', () => {
    const client = byStage.get('client')!;
    assert.ok(client.includes('VOLUME ["/data"]'));
    assert.ok(client.includes('CMD ["client", "--data", "/data", "--host", "0.0.0.0"]'));
    assert.ok(client.some((line) => line.startsWith('USER') && !/USER\s+(0|root)\b/.test(line)));
  });
});

describe('platform recipes', { skip: !hasPyYaml && 'python3-yaml missing' }, () => {
  interface FcProps {
    customContainerConfig: { port: number; command: string[]; entrypoint?: string[] };
    environmentVariables: Record<string, string>;
    timeout: unknown;
  }

  test('aliyun s.yaml passes arguments (not an entrypoint) and matches ports to transports', () => {
    const doc = parseYaml('deploy/aliyun/s.yaml') as { resources: Record<string, { props: FcProps }> };
    const ws = doc.resources['seamoon-ws']!.props;
    const grpc = doc.resources['seamoon-grpc']!.props;
    for (const [props, port, type] of [
      [ws, 9000, 'websocket'],
      [grpc, 8089, 'grpc'],
    ] as const) {
      assert.equal(props.customContainerConfig.entrypoint, undefined);
      assert.equal(props.customContainerConfig.port, port);
      assert.deepEqual(props.customContainerConfig.command, ['server', '-p', String(port), '-t', type]);
      assert.ok('SM_TOKEN' in props.environmentVariables);
    }
  });

  test('render.yaml: image service on PORT 9000 with a token asked for at creation', () => {
    const doc = parseYaml('deploy/render.yaml') as {
      services: {
        runtime: string;
        healthCheckPath: string;
        envVars: { key: string; value?: string; sync?: boolean }[];
      }[];
    };
    const service = doc.services[0]!;
    assert.equal(service.runtime, 'image');
    assert.equal(service.healthCheckPath, '/_health');
    assert.deepEqual(
      service.envVars.find((v) => v.key === 'PORT'),
      { key: 'PORT', value: '9000' },
    );
    assert.deepEqual(
      service.envVars.find((v) => v.key === 'SM_TOKEN'),
      { key: 'SM_TOKEN', sync: false },
    );
  });
});
