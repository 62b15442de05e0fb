/**
 * The kernel bench report as text (the CLI prints it; the studio shows the same figures as tables): a table per
 * kernel family, the hardware/software time ratio per case when both ran, and each model's step estimates.
 */
import type { CaseResult, KernelBenchReport } from './run.ts';

/** A kernel time as people read it (µs below 0.1 ms); the CLI's table and the studio's GPU check share it. */
export const formatMs = (x: number | null): string => (x === null ? '—' : x < 0.1 ? `${(x * 1000).toFixed(1)} µs` : `${x.toFixed(x < 10 ? 2 : 1)} ms`);
const ms = formatMs;
const rate = (x: number | null) => (x === null ? '—' : x.toFixed(x < 10 ? 2 : 1));
const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function checkText(r: CaseResult): string {
  if (r.error) return `error: ${r.error}`;
  return `${r.check.ok ? 'ok' : 'FAILED'} ${r.check.err.toExponential(1)} ≤ ${r.check.tol.toExponential(1)}`;
}

export function formatKernelReport(report: KernelBenchReport): string {
  const lines: string[] = [];
  const a = report.adapter;
  lines.push(`adapter: ${a.description}${a.isFallbackAdapter ? ' (fallback)' : ''}; features: ${report.features.join(', ') || 'none'}`);
  lines.push(`timing: ${report.timing === 'timestamp' ? 'GPU timestamps per pass' : 'wall time from submit to completion (no timestamp-query)'}; ${report.seconds.toFixed(1)} s in all`);
  const families = [...new Set(report.results.map((r) => r.family))];
  const width = Math.max(20, ...report.results.map((r) => (r.model ? r.model.length + 2 : 0) + r.label.length));
  for (const f of families) {
    lines.push('', `${f} kernels`, `${pad('case', width)}  ${lpad('time', 10)}  ${lpad('GFLOP/s', 8)}  ${lpad('GB/s', 7)}  check`);
    for (const r of report.results.filter((x) => x.family === f)) {
      const name = r.model ? `${r.model}: ${r.label}` : r.label;
      lines.push(`${pad(name, width)}  ${lpad(ms(r.ms), 10)}  ${lpad(rate(r.gflops), 8)}  ${lpad(rate(r.gbps), 7)}  ${checkText(r)}`);
    }
  }
  if (families.includes('software') && families.includes('hardware')) {
    lines.push('', 'hardware time / software time (below 1: the hardware family is faster on this adapter)');
    for (const h of report.results.filter((x) => x.family === 'hardware')) {
      const s = report.results.find((x) => x.family === 'software' && x.id === h.id);
      if (s?.ms && h.ms !== null) lines.push(`${pad(h.model ? `${h.model}: ${h.label}` : h.label, width)}  ${(h.ms / s.ms).toFixed(2)}`);
    }
  }
  lines.push('', 'step estimates (Σ of the kernel times the engine runs; not a measured step)');
  for (const e of report.estimates) {
    const tok = e.decodeTokPerSec === null ? '—' : `${e.decodeTokPerSec.toFixed(1)} tok/s`;
    const f16 = e.forwardF16Ms === null || e.forwardF16Ms === undefined ? '' : ` (${ms(e.forwardF16Ms)} with f16 activations)`;
    lines.push(`${pad(`${e.model}, ${e.family}`, 28)} LoRA step ${lpad(ms(e.trainStepMs), 10)}, forward ${lpad(ms(e.forwardMs), 10)} (${report.options.rows} tokens${f16}), decode ${lpad(ms(e.decodeMs), 10)} = ${tok}`);
  }
  return lines.join('\n') + '\n';
}
