// The GPU check's state (the Models panel's GPU check card): its settings, its job and the last report, kept
// outside the component so a check survives a tab switch and its figures stay on screen afterwards.
import type { KernelBenchReport } from '../../engine/kernel-bench/run.ts';
import { SMOLLM2_MODELS } from '../../engine/kernel-bench/models.ts';
import { JobRunner } from './job-runner.svelte.ts';
import { saveBlob } from './save-file.ts';
import type { StudioClient } from './studio-client.svelte.ts';

/** Row counts offered: 2048 = a 4 × 512 training micro-batch (the issue's), smaller ones for software adapters. */
export const GPU_CHECK_ROWS = [32, 128, 512, 2048] as const;
/** Which kernel families to time: both, or one (a CPU adapter's hardware family is slow to time and never used). */
export const GPU_CHECK_FAMILIES = ['both', 'software', 'hardware'] as const;
export type GpuCheckFamilies = (typeof GPU_CHECK_FAMILIES)[number];
export const GPU_CHECK_MODELS = SMOLLM2_MODELS.map((m) => m.name);

export class GpuCheckSession {
  readonly runner: JobRunner;
  report = $state<KernelBenchReport | null>(null);
  models = $state<string[]>([GPU_CHECK_MODELS[0]!]);
  rows = $state<number>(2048);
  families = $state<GpuCheckFamilies>('both');
  /** whether the settings still hold the defaults (the first device info may then shrink them for a CPU adapter) */
  #touched = false;

  constructor(private readonly client: StudioClient) {
    this.runner = new JobRunner((id) => client.cancelJob(id));
  }

  /** Settings suited to the adapter, unless the user changed them: a software adapter gets 128 rows. */
  suggestFor(kernelFamily: 'software' | 'hardware'): void {
    if (this.#touched) return;
    this.rows = kernelFamily === 'software' ? 128 : 2048;
  }

  set(s: { models?: string[]; rows?: number; families?: GpuCheckFamilies }): void {
    this.#touched = true;
    if (s.models) this.models = s.models;
    if (s.rows) this.rows = s.rows;
    if (s.families) this.families = s.families;
  }

  async run(): Promise<void> {
    const models = GPU_CHECK_MODELS.filter((m) => this.models.includes(m));
    await this.runner.run('Checking', `GPU kernels (${models.join(', ')}, ${this.rows} rows)`, async (c) => {
      const families = this.families === 'both' ? undefined : [this.families];
      const report = await c.follow(this.client.gpuCheck({ models, rows: this.rows, ...(families ? { families } : {}) }, c.onProgress));
      this.report = report;
      const failed = report.results.filter((r) => !r.check.ok);
      return failed.length
        ? `${failed.length} of ${report.results.length} cases failed their check against the CPU reference (${failed.map((r) => `${r.family} ${r.id}`).join(', ')}): they get no figure.`
        : `GPU check done in ${report.seconds.toFixed(0)} s: all ${report.results.length} cases match the CPU reference.`;
    });
  }

  exportJson(): void {
    if (!this.report) return;
    saveBlob(new Blob([JSON.stringify(this.report, null, 2) + '\n'], { type: 'application/json' }), 'alloy-gpu-check.json');
  }
}
