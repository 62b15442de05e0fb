// Collects benchmark rows, writes them to bench/results/<suite>.json, and rewrites the suite's table in the
// README between <!-- bench:<suite>:start --> and <!-- bench:<suite>:end -->.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface BenchRow {
  [column: string]: string | number;
}

export interface BenchSuite {
  suite: string;
  adapter: string;
  note: string;
  rows: BenchRow[];
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length}× ${cpu}, Node ${process.version}`;
}

function table(rows: BenchRow[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]!);
  const fmt = (v: string | number) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : v);
  return [
    `| ${cols.join(' | ')} |`,
    `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${cols.map((c) => fmt(r[c] ?? '')).join(' | ')} |`),
  ].join('\n');
}

export function writeSuite(s: BenchSuite): void {
  mkdirSync('bench/results', { recursive: true });
  const stamped = { ...s, machine: machine(), date: new Date().toISOString() };
  writeFileSync(`bench/results/${s.suite}.json`, JSON.stringify(stamped, null, 2) + '\n');
  const md = `${s.note}\n\nAdapter: ${s.adapter}; host: ${stamped.machine}; run ${stamped.date.slice(0, 10)}.\n\n${table(s.rows)}`;
  writeFileSync(`bench/results/${s.suite}.md`, md + '\n');
  const start = `<!-- bench:${s.suite}:start -->`;
  const end = `<!-- bench:${s.suite}:end -->`;
  const readme = readFileSync('README.md', 'utf8');
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i >= 0 && j > i) {
    writeFileSync('README.md', readme.slice(0, i + start.length) + '\n' + md + '\n' + readme.slice(j));
  }
}

/** Median of a few timed runs after warm-up; returns milliseconds. */
export async function timeIt(fn: () => Promise<void>, runs = 3, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}
