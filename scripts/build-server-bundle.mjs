#!/usr/bin/env node
// Bundles the tunnel server into one file, dist/seamoon-server.mjs, that runs with plain `node`
// and no node_modules beside it: `node dist/seamoon-server.mjs server -p 9000`. This is the exact
// file the container image copies (deploy/Dockerfile runs `npm run build:server`).
//
// The commit is baked in (SEAMOON_COMMIT from the environment, else `git rev-parse`), so
// `/_health` and `--version` name the build. The build fails if anything from the console side
// (SQLite, the web framework, cloud providers) reaches the bundle.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
// `--outfile <path>` builds elsewhere (tests build a bundle with a known commit into a temp dir).
const outfileArg = process.argv.indexOf('--outfile');
const outfile =
  outfileArg > 0 && process.argv[outfileArg + 1]
    ? resolve(process.argv[outfileArg + 1])
    : `${root}dist/seamoon-server.mjs`;

/** Inputs that belong to the control plane and must never be in the server image. */
const FORBIDDEN = [
  /node_modules\/(better-sqlite3|kysely|hono|@hono|@kubernetes|@alicloud|tencentcloud-sdk|zod)\//,
  /^src\/(control|providers|web)\//,
];

function gitCommit() {
  if (process.env.SEAMOON_COMMIT !== undefined) return process.env.SEAMOON_COMMIT;
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/**
 * grpc-js needs @grpc/proto-loader (and protobufjs) only to describe its channelz/ORCA admin
 * services, which the server never registers: our tunnel service has a hand-written definition.
 * Leaving them out takes a fifth off the bundle and off start-up parsing.
 */
const withoutProtoLoader = {
  name: 'without-proto-loader',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^@grpc\/proto-loader$/ }, () => ({
      path: 'proto-loader',
      namespace: 'stub',
    }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents:
        "exports.loadSync = () => { throw new Error('@grpc/proto-loader is not part of the server bundle'); };",
      loader: 'js',
    }));
  },
};

const commit = gitCommit();
const started = Date.now();
const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/server-entry.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
  // ws loads these native speed-ups only if present; they are optional.
  external: ['bufferutil', 'utf-8-validate'],
  plugins: [withoutProtoLoader],
  define: { 'process.env.SEAMOON_COMMIT': JSON.stringify(commit) },
  banner: {
    // CommonJS dependencies (pino, grpc-js) call require() for Node built-ins. (The entry's own
    // `#!/usr/bin/env node` line is kept first by esbuild.)
    js: [
      "import { createRequire as __seamoonCreateRequire } from 'node:module';",
      'const require = __seamoonCreateRequire(import.meta.url);',
    ].join('\n'),
  },
});

const inputs = Object.keys(result.metafile.inputs).map((path) => relative(root, `${root}${path}`));
const forbidden = inputs.filter((path) => FORBIDDEN.some((pattern) => pattern.test(path)));
if (forbidden.length > 0) {
  console.error(`console code reached the server bundle:\n  ${forbidden.join('\n  ')}`);
  process.exit(1);
}
const kib = (statSync(outfile).size / 1024).toFixed(1);
console.log(
  `built ${relative(root, outfile)}: ${kib} KiB, ${inputs.length} inputs, commit ${commit || '(none)'}, ${Date.now() - started} ms`,
);
