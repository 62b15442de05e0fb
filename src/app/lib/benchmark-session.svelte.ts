// The Benchmark panel's state, kept at the app level so a run goes on streaming into the page while another tab is
// shown: the run being computed (or a past one reopened), its progress, and the list of stored runs. A run is
// stored in IndexedDB (io/cache/benchmark-runs.ts) only once every model finished; a cancelled run stays on screen.
import type { SerializedError } from '../../common/errors.ts';
import type { Progress } from '../../io/progress.ts';
import type { CachedModelSummary } from '../../io/cache/weight-cache.ts';
import type { ActDtype } from '../../engine/act-dtype.ts';
import { modelRefs } from '../../io/cache/names.ts';
import type { RunSummary, BenchmarkRun, RunModel, RunOptions } from '../../common/benchmark-run.ts';
import type { MultipleChoiceItem } from '../../engine/eval/multiple-choice.ts';
import { parseMergeYaml } from '../../engine/merge/config.ts';
import { mergeParentRefs } from '../../engine/eval/synergy.ts';
import { StudioError, toSerialized, type StudioClient } from './studio-client.svelte.ts';
import { formatBytes } from './format.ts';

export interface BenchmarkSource {
  name: string;
  origin: 'built-in' | 'file';
  /** MMLU CSVs are prompted with lm-eval's MMLU template, everything else with its generic one */
  format: 'jsonl' | 'mmlu';
  items: MultipleChoiceItem[];
}

export interface BenchmarkForm {
  selected: string[];
  source: BenchmarkSource | null;
  limit: number | null;
  fewShot: number;
  chatTemplate: boolean;
  activations?: ActDtype;
}

export type RunState = 'running' | 'done' | 'cancelled' | 'failed' | 'stored';

function newId(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export class BenchmarkSession {
  /** the run on screen: streaming, just finished, cancelled, or reopened from the store */
  run = $state<BenchmarkRun | null>(null);
  state = $state<RunState | null>(null);
  job = $state<{ id: string; progress: Progress | null; cancelling: boolean } | null>(null);
  error = $state<SerializedError | null>(null);
  notice = $state<string | null>(null);
  pastRuns = $state<RunSummary[]>([]);
  pastError = $state<SerializedError | null>(null);
  /** the panel's setup (models ticked, benchmark, options), kept here so a tab switch during a run loses nothing */
  form = $state<BenchmarkForm | null>(null);
  constructor(private readonly client: StudioClient) {}

  async refreshPast(): Promise<void> {
    try {
      this.pastRuns = await this.client.listBenchmarkRuns();
      this.pastError = null;
    } catch (e) {
      this.pastError = toSerialized(e);
    }
  }

  /** The parents a merged model's mergekit_config.yml names (null for a model that is not a merge). */
  async #parentsOf(m: CachedModelSummary): Promise<string[] | null> {
    if (m.source !== 'merge') return null;
    try {
      const yaml = await this.client.exportMergeYaml(m.id);
      return yaml ? mergeParentRefs(parseMergeYaml(yaml, 'mergekit_config.yml').config) : null;
    } catch {
      return null; // a merge whose config cannot be read is benchmarked all the same, without a synergy view
    }
  }

  async start(models: CachedModelSummary[], source: BenchmarkSource, options: RunOptions): Promise<void> {
    if (this.job) return;
    this.error = null;
    this.notice = null;
    const runModels: RunModel[] = [];
    // refs over the whole cache, as the Merge panel computes them (a parent need not be among the run's models)
    const refs = modelRefs(await this.client.listModels().catch(() => models));
    for (const m of models) runModels.push({ id: m.id, label: m.label, repo: m.repo, ...(refs.has(m.id) ? { ref: refs.get(m.id)! } : {}), parents: await this.#parentsOf(m) });
    const n = Math.min(source.items.length, options.limit ?? source.items.length);
    const id = newId();
    this.run = {
      id,
      createdAt: Date.now(),
      seconds: 0,
      benchmark: { name: source.name, source: source.origin, format: source.format, items: n },
      options,
      models: runModels.map((model) => ({ model, items: [] })),
    };
    this.state = 'running';
    // Item reports travel on their own message port, so the job's result can overtake the last of them: the run
    // is complete (and stored) only once every item has arrived.
    const expected = n * models.length;
    let arrived = 0;
    let allArrived!: () => void;
    const complete = new Promise<void>((resolve) => (allArrived = resolve));
    const j = this.client.runBenchmark(
      {
        models: models.map((m) => ({ id: m.id, label: m.label })),
        benchmark: { name: source.name, format: source.format, items: source.items },
        limit: options.limit,
        fewShot: options.fewShot,
        chatTemplate: options.chatTemplate,
        activations: options.activations ?? 'f32',
      },
      // Braces: a callback's return value travels back to the worker, and $state proxies cannot be cloned.
      (u) => {
        if (this.run?.id !== id) return;
        this.run.models[u.model]?.items.push(u.item);
        if (++arrived === expected) allArrived();
      },
      (p) => {
        if (this.job?.id === j.id) this.job.progress = p;
      },
    );
    this.job = { id: j.id, progress: null, cancelling: false };
    try {
      const result = await j.done;
      const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`only ${arrived} of ${expected} item results arrived from the worker`)), 10_000));
      await Promise.race([complete, late]);
      if (this.run?.id !== id) return;
      this.run.seconds = result.seconds;
      this.state = 'done';
      const snapshot = $state.snapshot(this.run) as BenchmarkRun;
      try {
        await this.client.saveBenchmarkRun(snapshot);
        this.state = 'stored';
        const peak = Math.max(0, ...result.models.map((m) => m.peakBytes));
        this.notice = `Done: ${models.length} model${models.length === 1 ? '' : 's'} × ${n} items in ${result.seconds.toFixed(1)} s (one model on the GPU at a time, peak ${formatBytes(peak)} of GPU buffers). Stored under Past runs.`;
      } catch (e) {
        this.error = toSerialized(e);
        this.notice = 'Done, but the run could not be stored: download it below.';
      }
      await this.refreshPast();
    } catch (e) {
      if (this.run?.id === id) this.state = e instanceof StudioError && e.cancelled ? 'cancelled' : 'failed';
      if (e instanceof StudioError && e.cancelled) {
        const done = this.run?.models.reduce((s, m) => s + m.items.length, 0) ?? 0;
        this.notice = `Run cancelled after ${done} of ${n * models.length} item scores; it was not stored.`;
      } else this.error = toSerialized(e);
    } finally {
      this.job = null;
    }
  }

  cancel(): void {
    const job = this.job;
    if (!job || job.cancelling) return;
    job.cancelling = true;
    this.client.cancelJob(job.id);
  }

  async open(id: string): Promise<void> {
    if (this.job) return;
    try {
      const run = await this.client.getBenchmarkRun(id);
      if (!run) throw new Error('That run is no longer stored (deleted in another tab?).');
      this.run = run;
      this.state = 'stored';
      this.error = null;
      this.notice = null;
    } catch (e) {
      this.pastError = toSerialized(e);
    }
    await this.refreshPast();
  }

  async remove(id: string): Promise<void> {
    try {
      await this.client.deleteBenchmarkRun(id);
      if (this.run?.id === id && !this.job) {
        this.run = null;
        this.state = null;
      }
    } catch (e) {
      this.pastError = toSerialized(e);
    }
    await this.refreshPast();
  }
}
