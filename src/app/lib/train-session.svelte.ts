// The Train panel's state, kept at the app level so a run goes on streaming while another tab is shown: the run on
// screen (its steps as the worker's Trainer emitted them, unrounded), its status, the stored runs (IndexedDB, via the
// worker), and the export / fold actions. The numbers drawn are exactly the engine's events.
import type { SerializedError } from '../../common/errors.ts';
import type { Progress } from '../../io/progress.ts';
import type { CachedModelSummary } from '../../io/cache/weight-cache.ts';
import type { Method } from '../../common/training-data.ts';
import type { StepEvent, TrainEvent, TrainOutcome, TrainPlan, TrainRequest, TrainRunSummary, TrainSettings } from '../../worker/train-api.ts';
import type { DataChoice, ValChoice } from './train-settings.ts';
import { StudioError, toSerialized, type Job, type StudioClient } from './studio-client.svelte.ts';
import { saveBlob } from './save-file.ts';

export type LiveStatus = 'starting' | 'running' | 'pausing' | 'paused' | 'cancelling' | 'done' | 'cancelled' | 'nan' | 'failed';

export interface LiveRun {
  runId: string | null;
  label: string;
  steps: number;
  status: LiveStatus;
  history: StepEvent[];
  plan: TrainPlan | null;
  resumedFrom: number | null;
  lastCheckpoint: number | null;
  message: string | null;
  outcome: TrainOutcome | null;
  startedAt: number;
}

/** The panel's form as the user left it (kept across tab switches). */
export interface TrainForm {
  modelId: string;
  method: Method;
  settings: TrainSettings;
  data: DataChoice;
  val: ValChoice;
  /** GPU memory budget in GB (lib/format.ts: the studio's one size unit) */
  budgetGB: number;
  /** the sequence length the panel chose itself (default or fitted to the data); once the setting differs, it is the user's */
  autoSeqLen: number;
}

export class TrainSession {
  /** written by the panel on every change; not reactive on purpose (only read when the panel mounts) */
  form: TrainForm | null = null;
  live = $state<LiveRun | null>(null);
  runs = $state<TrainRunSummary[]>([]);
  error = $state<SerializedError | null>(null);
  notice = $state<string | null>(null);
  /** a fold in progress */
  folding = $state<{ jobId: string; runId: string; progress: Progress | null; cancelling: boolean } | null>(null);
  /** the model folded last, offered as the start of the next stage */
  folded = $state<{ entry: CachedModelSummary; runId: string } | null>(null);
  #jobId = $state<string | null>(null);

  /** tests only (`?debug`, window.alloyTrainDebug): the next run gets a NaN written into its adapter after this step */
  debugPoisonAfterStep = 0;

  constructor(private readonly client: StudioClient) {
    if (typeof location !== 'undefined' && new URLSearchParams(location.search).has('debug')) {
      (globalThis as unknown as { alloyTrainDebug: unknown }).alloyTrainDebug = {
        poisonAfterStep: (step: number) => (this.debugPoisonAfterStep = step),
      };
    }
  }

  get busy(): boolean {
    return this.#jobId !== null;
  }

  async refreshRuns(): Promise<void> {
    try {
      this.runs = await this.client.listTrainRuns();
    } catch (e) {
      this.error = toSerialized(e);
    }
  }

  #onEvent = (e: TrainEvent) => {
    const live = this.live;
    if (!live) return;
    switch (e.type) {
      case 'started':
        live.runId = e.runId;
        live.steps = e.steps;
        live.history = e.history;
        live.plan = e.plan;
        live.resumedFrom = e.resumedFrom;
        if (live.status === 'starting') live.status = 'running';
        void this.refreshRuns();
        break;
      case 'step':
        // keep the curve in step order; a resumed run re-emits nothing before its checkpoint
        live.history = [...live.history.filter((h) => h.step < e.step), { ...e }];
        break;
      case 'checkpoint':
        live.lastCheckpoint = e.step;
        break;
      case 'paused':
        live.status = 'paused';
        break;
      case 'resumed':
        live.status = 'running';
        break;
      case 'stopped':
        live.status = e.reason === 'nan' ? 'nan' : 'cancelled';
        live.message = e.message;
        break;
    }
  };

  async #drive(job: Job<TrainOutcome>): Promise<void> {
    this.#jobId = job.id;
    try {
      const out = await job.done;
      if (this.live) {
        this.live.outcome = out;
        this.live.status = out.status;
        this.live.message = out.message;
        // on a NaN stop the Trainer dropped the checkpoint whose weights gave it: the last good one is what is left
        this.live.lastCheckpoint = out.checkpoint;
        // a full run saved its model: offered like a folded one (the next stage starts from it)
        if (out.saved && out.runId) this.folded = { entry: out.saved.entry, runId: out.runId };
      }
    } catch (e) {
      if (this.live) {
        const cancelled = e instanceof StudioError && e.cancelled;
        this.live.status = cancelled ? 'cancelled' : 'failed';
        if (!cancelled) this.error = toSerialized(e);
      } else this.error = toSerialized(e);
    } finally {
      this.#jobId = null;
      await this.refreshRuns();
    }
  }

  async start(request: TrainRequest, label: string): Promise<void> {
    if (this.#jobId) return;
    this.error = null;
    this.notice = null;
    this.live = {
      runId: null,
      label,
      steps: request.settings.steps,
      status: 'starting',
      history: [],
      plan: null,
      resumedFrom: null,
      lastCheckpoint: null,
      message: null,
      outcome: null,
      startedAt: Date.now(),
    };
    const req = this.debugPoisonAfterStep > 0 ? { ...request, debugPoisonAfterStep: this.debugPoisonAfterStep } : request;
    this.debugPoisonAfterStep = 0;
    await this.#drive(this.client.startTraining(req, this.#onEvent));
  }

  async resume(run: TrainRunSummary): Promise<void> {
    if (this.#jobId) return;
    this.error = null;
    this.notice = null;
    this.live = {
      runId: run.id,
      label: run.label,
      steps: run.settings.steps,
      status: 'starting',
      history: [],
      plan: null,
      resumedFrom: null,
      lastCheckpoint: run.checkpoints.at(-1) ?? null,
      message: null,
      outcome: null,
      startedAt: Date.now(),
    };
    await this.#drive(this.client.resumeTraining(run.id, this.#onEvent));
  }

  async pause(): Promise<void> {
    const live = this.live;
    if (!live?.runId || live.status !== 'running') return;
    live.status = 'pausing';
    try {
      await this.client.pauseTraining(live.runId, true);
    } catch (e) {
      this.error = toSerialized(e);
    }
  }

  async unpause(): Promise<void> {
    const live = this.live;
    if (!live?.runId || (live.status !== 'paused' && live.status !== 'pausing')) return;
    try {
      await this.client.pauseTraining(live.runId, false);
      live.status = 'running';
    } catch (e) {
      this.error = toSerialized(e);
    }
  }

  cancel(): void {
    if (!this.#jobId || !this.live || this.live.status === 'cancelling') return;
    this.live.status = 'cancelling';
    this.client.cancelJob(this.#jobId);
  }

  async exportAdapter(runId: string, step?: number): Promise<void> {
    this.error = null;
    try {
      const a = await this.client.exportAdapter(runId, step);
      saveBlob(new Blob([a.bytes.slice()], { type: 'application/zip' }), a.fileName);
      const run = this.runs.find((r) => r.id === runId);
      this.notice = `Exported ${run?.imported ? run.label : `the adapter of step ${a.step}`} as ${a.fileName} (adapter_config.json + adapter_model.safetensors: load it with PEFT's PeftModel.from_pretrained).`;
    } catch (e) {
      this.error = toSerialized(e);
    }
  }

  async fold(runId: string, label: string | null): Promise<CachedModelSummary | null> {
    if (this.folding) return null;
    this.error = null;
    const job = this.client.foldAdapter(runId, label, (p) => {
      if (this.folding) this.folding.progress = p;
    });
    this.folding = { jobId: job.id, runId, progress: null, cancelling: false };
    try {
      const r = await job.done;
      this.folded = { entry: r.entry, runId };
      const run = this.runs.find((x) => x.id === runId);
      this.notice = `Folded ${run?.imported ? run.label : `the adapter of step ${r.step}`} into ${r.entry.label}: it is a cached model now (Models, Chat, Merge, Benchmark).`;
      return r.entry;
    } catch (e) {
      if (e instanceof StudioError && e.cancelled) this.notice = 'Fold cancelled: nothing was written to the cache.';
      else this.error = toSerialized(e);
      return null;
    } finally {
      this.folding = null;
      await this.refreshRuns();
    }
  }

  cancelFold(): void {
    if (!this.folding || this.folding.cancelling) return;
    this.folding.cancelling = true;
    this.client.cancelJob(this.folding.jobId);
  }

  async deleteRun(runId: string): Promise<void> {
    try {
      await this.client.deleteTrainRun(runId);
      if (this.live?.runId === runId && !this.#jobId) this.live = null;
    } catch (e) {
      this.error = toSerialized(e);
    }
    await this.refreshRuns();
  }
}
