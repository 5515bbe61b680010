/**
 * `npm run bench`: builds the CLI (benchmarks run the compiled `dist/`, as users do), then runs
 * every `bench/*.bench.ts` in its own process, one after another, echoing their tables and
 * collecting them into bench/results/latest.md. Never part of `npm test`.
 * Arguments filter the files by name: `npm run bench -- throughput`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH_DIR = join(ROOT, 'bench');

function runChild(args: string[], echo: boolean): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (echo) process.stdout.write(chunk);
    });
    proc.once('error', reject);
    proc.once('close', (code) => resolve({ code, stdout }));
  });
}

async function build(): Promise<void> {
  process.stdout.write('building dist/ (tsc -p tsconfig.build.json) ...\n');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await runChild([tsc, '-p', 'tsconfig.build.json'], false);
  // tsc still emits on type errors; the benches check that dist/ is there.
  if (result.code !== 0) process.stdout.write(`warning: the build reported errors:\n${result.stdout}\n`);
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const files = readdirSync(BENCH_DIR)
    .filter((name) => name.endsWith('.bench.ts'))
    .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
    .sort();
  if (files.length === 0) throw new Error('no bench/*.bench.ts matched');
  await build();
  const sections: string[] = [`# Benchmarks (${new Date().toISOString()})`, ''];
  let failed = 0;
  for (const file of files) {
    process.stdout.write(`\n## ${file}\n\n`);
    const result = await runChild(['--import', 'tsx', join(BENCH_DIR, file)], true);
    if (result.code !== 0) {
      failed += 1;
      sections.push(`## ${file}`, '', `failed (exit ${result.code})`, '');
    } else {
      sections.push(`## ${file}`, '', result.stdout.trim(), '');
    }
  }
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'latest.md'), `${sections.join('\n')}\n`);
  process.stdout.write(`\nwritten to bench/results/latest.md\n`);
  if (failed > 0) process.exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
