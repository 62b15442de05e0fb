// The UI's handle on the studio worker: creates it, wraps it with comlink, unwraps Results into thrown
// StudioErrors, mirrors the running download as Svelte state, and can terminate and recreate the worker
// (terminating is the only reliable way to make a browser free a GPUDevice's memory).
import * as Comlink from 'comlink';
import type { ErrorLocation, SerializedError } from '../../common/errors.ts';
import type { Progress } from '../../io/progress.ts';
import type { ModelSource } from '../../io/sources.ts';
import type { CachedModelSummary } from '../../io/cache/weight-cache.ts';
import type {
  AdapterChoice,
  BenchmarkItemUpdate,
  BenchmarkRequest,
  BenchmarkResult,
  DeviceLoss,
  GenerateRequest,
  GenerateSummary,
  GenerateUpdate,
  GpuCheckRequest,
  LoadedModel,
  MergeParent,
  MergeRequest,
  ParentDistances,
  Result,
  StudioApi,
  SweepPoint,
  SweepRequest,
} from '../../worker/api.ts';
import type { AdapterExport, AdapterImportRequest, AdapterImportResult, FoldResult, TrainEvent, TrainOutcome, TrainPlan, TrainRequest } from '../../worker/train-api.ts';
import type { RecipeOutcome, RecipeRequest } from '../../worker/recipe-api.ts';
import type { ExportFile, GgufExportResult, GgufOutType, ImportRequest, ImportResult } from '../../worker/export-api.ts';
import type { QuantizeRequest, QuantizeResult, QuickPerplexity, QuickPerplexityRequest } from '../../worker/quantize-api.ts';
import type { RecipeEvent } from '../../engine/recipe/runner.ts';
import type { DatasetTokens, DatasetTokensRequest } from '../../worker/dataset.ts';
import type { NewStoredDataset } from '../../io/cache/datasets.ts';
import type { BenchmarkRun } from '../../common/benchmark-run.ts';
import type { KernelBenchReport } from '../../engine/kernel-bench/run.ts';
import { parseKernelFamily, parseSubgroups } from '../../engine/kernel-family.ts';

/** An error that came back from the worker, with its original name and location intact. */
export class StudioError extends Error {
  readonly where: ErrorLocation;
  constructor(e: SerializedError) {
    super(e.message);
    this.name = e.name;
    this.where = e.where;
  }
  get cancelled(): boolean {
    return this.name === 'CancelledError';
  }
  toJSON(): SerializedError {
    return { name: this.name, message: this.message, where: this.where };
  }
}

export function toSerialized(e: unknown): SerializedError {
  if (e instanceof StudioError) return e.toJSON();
  if (e instanceof Error) return { name: e.name, message: e.message, where: {} };
  return { name: 'Error', message: String(e), where: {} };
}

function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw new StudioError(r.error);
}

export interface RunningJob {
  id: string;
  /** what is being loaded, e.g. "alloy-fixtures/tiny-llama@main" */
  label: string;
  progress: Progress | null;
  cancelling: boolean;
}

/**
 * A switch of the studio URL (?kernels=, ?subgroups=) parsed as its Node twin (ALLOY_KERNELS, ALLOY_SUBGROUPS) is;
 * a bad value is reported and ignored (the device decides).
 */
function switchFromUrl<T>(name: string, parse: (value: string | null, source: string) => T | undefined): T | undefined {
  if (typeof location === 'undefined') return undefined;
  try {
    return parse(new URLSearchParams(location.search).get(name), `?${name}`);
  } catch (e) {
    console.warn((e as Error).message);
    return undefined;
  }
}

function createWorker(): Worker {
  return new Worker(new URL('../../worker/studio.worker.ts', import.meta.url), { type: 'module', name: 'alloy-studio' });
}

/** A cancellable worker job: `done` settles with its result; pass `id` to StudioClient.cancelJob. */
export interface Job<T> {
  id: string;
  done: Promise<T>;
}

function newId(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/**
 * What crosses the boundary is structured-cloned, and Svelte's $state proxies cannot be: every request goes through
 * here (plain objects and arrays copied, Blobs and typed arrays cloned as the browser clones them).
 */
function plain<T>(value: T): T {
  return $state.snapshot(value) as T;
}

/** A callback the worker calls back through comlink; the worker releases it when its job ends (worker/jobs.ts). */
const callback = <F extends (x: never) => void>(fn: F) => Comlink.proxy(fn);

export class StudioClient {
  /** The one download running now (the cache takes one at a time), or null. */
  job = $state<RunningJob | null>(null);
  /** Bumped every time the worker is recreated, so views can reload what they showed. */
  generation = $state(0);
  /** Set when the worker's GPU device was lost (until cleared by a reload); the cached models are unaffected. */
  deviceLost = $state<DeviceLoss | null>(null);

  #worker!: Worker;
  #api!: Comlink.Remote<StudioApi>;
  /** Rejects when the current worker is terminated, so calls in flight do not hang forever. */
  #terminated!: Promise<never>;
  #terminate!: (e: Error) => void;

  constructor(private readonly makeWorker: () => Worker = createWorker) {
    this.#start();
  }

  #start(): void {
    this.#worker = this.makeWorker();
    this.#api = Comlink.wrap<StudioApi>(this.#worker);
    this.#terminated = new Promise<never>((_, reject) => {
      this.#terminate = reject;
    });
    this.#terminated.catch(() => {}); // only calls racing against it should see the rejection
    const api = this.#api;
    // ?kernels=software|hardware forces a kernel family on the worker's device, ?subgroups=on|off the kernels'
    // subgroup variants; sent before any call that could acquire it (comlink delivers calls in order).
    const kernels = switchFromUrl('kernels', parseKernelFamily);
    if (kernels) void api.setKernelFamily(kernels);
    const subgroups = switchFromUrl('subgroups', parseSubgroups);
    if (subgroups !== undefined) void api.setSubgroups(subgroups);
    void api.watchDeviceLoss(
      Comlink.proxy((loss: DeviceLoss) => {
        if (api === this.#api) this.deviceLost = loss; // a report from a terminated worker is stale
      }),
    );
  }

  /** Calls the worker, racing the call against the worker being terminated. */
  async #call<T>(run: (api: Comlink.Remote<StudioApi>) => Promise<Result<T>>): Promise<T> {
    return unwrap(await Promise.race([run(this.#api), this.#terminated]));
  }

  /** A long call: a fresh job id for cancelJob, the call itself as #call makes it. */
  #job<T>(run: (api: Comlink.Remote<StudioApi>, jobId: string) => Promise<Result<T>>): Job<T> {
    const jobId = newId();
    return { id: jobId, done: this.#call((api) => run(api, jobId)) };
  }

  gpuInfo() {
    return this.#call((api) => api.gpuInfo());
  }
  listModels() {
    return this.#call((api) => api.listModels());
  }
  storage() {
    return this.#call((api) => api.storage());
  }
  deleteModel(id: string) {
    return this.#call((api) => api.deleteModel(id));
  }
  listPartials() {
    return this.#call((api) => api.listPartials());
  }
  discardPartial(id: string) {
    return this.#call((api) => api.discardPartial(id));
  }
  inspectModel(id: string) {
    return this.#call((api) => api.inspectModel(id));
  }
  tokenize(id: string, text: string) {
    return this.#call((api) => api.tokenize(id, text));
  }

  unloadModel() {
    return this.#call((api) => api.unloadModel());
  }
  /** Applies a stored adapter to the resident model (null: the base model again). */
  setChatAdapter(choice: AdapterChoice | null) {
    const pick = choice ? { runId: choice.runId, ...(choice.step !== undefined ? { step: choice.step } : {}) } : null;
    return this.#call((api) => api.setChatAdapter(pick));
  }
  gpuMemory() {
    return this.#call((api) => api.gpuMemory());
  }
  simulateDeviceLoss() {
    return this.#call((api) => api.simulateDeviceLoss());
  }
  clearDeviceLost(): void {
    this.deviceLost = null;
  }

  /** Uploads a cached model to the GPU for chat (replacing the resident one), reporting progress. */
  loadForChat(id: string, onProgress: (p: Progress) => void): Job<LoadedModel> {
    return this.#job((api, jobId) => api.loadForChat(jobId, id, callback(onProgress)));
  }

  /** Generates with the resident model; `onUpdate` receives the streamed text. Stop it with cancelJob(id). */
  generate(request: GenerateRequest, onUpdate: (u: GenerateUpdate) => void): Job<GenerateSummary> {
    return this.#job((api, jobId) => api.generate(jobId, plain(request), callback(onUpdate)));
  }

  /** Tests only (`?debug`): slows merges down so that a cancel lands mid-merge even on tiny fixtures. */
  debugMergeDelayMs = 0;
  /** tests only (?debug): pause after each quantised tensor written, so a cancel lands mid-quantisation */
  debugQuantizeDelayMs = 0;

  /** Merges cached parents into a new cached model; cancelJob(id) stops it and leaves no entry. */
  mergeModels(request: MergeRequest, onProgress: (p: Progress) => void): Job<CachedModelSummary> {
    const req = plain(request);
    if (this.debugMergeDelayMs > 0) req.debugDelayMs = this.debugMergeDelayMs;
    return this.#job((api, jobId) => api.mergeModels(jobId, req, callback(onProgress)));
  }

  exportMergeYaml(id: string) {
    return this.#call((api) => api.exportMergeYaml(id));
  }

  /** Per-layer angles between two parents (a cached model, or one with a stored adapter folded in). */
  parentDistances(a: string | MergeParent, b: string | MergeParent, onProgress: (p: Progress) => void): Job<ParentDistances> {
    return this.#job((api, jobId) => api.parentDistances(jobId, plain(a), plain(b), callback(onProgress)));
  }

  mergeSweep(request: SweepRequest, onPoint: (p: SweepPoint) => void, onProgress: (p: Progress) => void): Job<SweepPoint[]> {
    return this.#job((api, jobId) => api.mergeSweep(jobId, plain(request), callback(onPoint), callback(onProgress)));
  }

  /** Tests only (`?debug`): slows benchmarks down so that a cancel lands mid-run even on tiny fixtures. */
  debugBenchmarkDelayMs = 0;

  /** Scores cached models on a benchmark, streaming each item's result; cancelJob(id) stops it. */
  runBenchmark(request: BenchmarkRequest, onItem: (u: BenchmarkItemUpdate) => void, onProgress: (p: Progress) => void): Job<BenchmarkResult> {
    const req = plain(request);
    if (this.debugBenchmarkDelayMs > 0) req.debugDelayMs = this.debugBenchmarkDelayMs;
    return this.#job((api, jobId) => api.runBenchmark(jobId, req, callback(onItem), callback(onProgress)));
  }

  /** The dataset's numbers and the memory plan of a training request. */
  planTraining(request: TrainRequest): Promise<TrainPlan> {
    return this.#call((api) => api.planTraining(plain(request)));
  }

  /** Trains a LoRA adapter, streaming events; cancelJob(id) stops it after the current step. */
  startTraining(request: TrainRequest, onEvent: (e: TrainEvent) => void): Job<TrainOutcome> {
    return this.#job((api, jobId) => api.startTraining(jobId, plain(request), callback(onEvent)));
  }

  /** Continues a stored run from its latest checkpoint. */
  resumeTraining(runId: string, onEvent: (e: TrainEvent) => void): Job<TrainOutcome> {
    return this.#job((api, jobId) => api.resumeTraining(jobId, runId, callback(onEvent)));
  }

  pauseTraining(runId: string, paused: boolean) {
    return this.#call((api) => api.pauseTraining(runId, paused));
  }
  listTrainRuns() {
    return this.#call((api) => api.listTrainRuns());
  }
  deleteTrainRun(runId: string) {
    return this.#call((api) => api.deleteTrainRun(runId));
  }
  exportAdapter(runId: string, step?: number): Promise<AdapterExport> {
    return this.#call((api) => api.exportAdapter(runId, step));
  }

  /** Folds a run's adapter into its base as a new cached model; cancelJob(id) stops it and leaves no entry. */
  foldAdapter(runId: string, label: string | null, onProgress: (p: Progress) => void): Job<FoldResult> {
    return this.#job((api, jobId) => api.foldAdapter(jobId, runId, label, callback(onProgress)));
  }

  /** Checks PEFT adapter files against a cached base model and stores them beside the training runs. */
  importAdapter(request: AdapterImportRequest): Promise<AdapterImportResult> {
    return this.#call((api) => api.importAdapter(plain(request)));
  }

  /** Runs a recipe on a cached model, streaming its events; cancelJob(id) stops it between or inside stages. */
  runRecipe(request: RecipeRequest, onEvent: (e: RecipeEvent) => void): Job<RecipeOutcome> {
    return this.#job((api, jobId) => api.runRecipe(jobId, plain(request), callback(onEvent)));
  }

  /** The GPU check: the kernel bench on the worker's device, both kernel families unless asked otherwise. */
  gpuCheck(request: GpuCheckRequest, onProgress: (p: Progress) => void): Job<KernelBenchReport> {
    return this.#job((api, jobId) => api.gpuCheck(jobId, plain(request), callback(onProgress)));
  }

  /** A cached model's folder as a zip Blob (progress over the bytes checksummed); cancelJob(id) stops it. */
  exportModelZip(id: string, onProgress: (p: Progress) => void): Job<ExportFile> {
    return this.#job((api, jobId) => api.exportModelZip(jobId, id, callback(onProgress)));
  }

  /** A cached model's files as Blobs (for writing into a folder the user picked). */
  exportModelFiles(id: string) {
    return this.#call((api) => api.exportModelFiles(id));
  }

  /** A cached model as one GGUF file; cancelJob(id) stops it. */
  exportModelGguf(id: string, type: GgufOutType, onProgress: (p: Progress) => void): Job<GgufExportResult> {
    return this.#job((api, jobId) => api.exportModelGguf(jobId, id, type, callback(onProgress)));
  }

  /** A GGUF or llama2.c file converted into a new cached model; cancelJob(id) stops it and leaves no entry. */
  importModel(request: ImportRequest, onProgress: (p: Progress) => void): Job<ImportResult> {
    return this.#job((api, jobId) => api.importModel(jobId, plain(request), callback(onProgress)));
  }

  /** "Load as 4-bit": a cached model quantised into a new entry; cancelJob(id) stops it and leaves no entry. */
  quantizeModel(request: QuantizeRequest, onProgress: (p: Progress) => void): Job<QuantizeResult> {
    const req = plain(request);
    if (this.debugQuantizeDelayMs > 0) req.debugDelayMs = this.debugQuantizeDelayMs;
    return this.#job((api, jobId) => api.quantizeModel(jobId, req, callback(onProgress)));
  }

  /** The same held-out documents' perplexity under each model; cancelJob(id) stops it. */
  quickPerplexity(request: QuickPerplexityRequest, onProgress: (p: Progress) => void): Job<QuickPerplexity[]> {
    return this.#job((api, jobId) => api.quickPerplexity(jobId, plain(request), callback(onProgress)));
  }

  /** Tokenises a dataset file's good rows with a cached model's tokenizer (Data panel); cancelJob(id) stops it. */
  datasetTokens(request: DatasetTokensRequest, onProgress: (p: Progress) => void): Job<DatasetTokens> {
    return this.#job((api, jobId) => api.datasetTokens(jobId, plain(request), callback(onProgress)));
  }

  // The saved datasets and benchmark runs: their IndexedDB stores are opened by the worker, like every store.
  listDatasets() {
    return this.#call((api) => api.listDatasets());
  }
  saveDataset(meta: NewStoredDataset, text: string) {
    return this.#call((api) => api.saveDataset(plain(meta), text));
  }
  getDataset(id: string) {
    return this.#call((api) => api.getDataset(id));
  }
  deleteDataset(id: string) {
    return this.#call((api) => api.deleteDataset(id));
  }
  listBenchmarkRuns() {
    return this.#call((api) => api.listBenchmarkRuns());
  }
  saveBenchmarkRun(run: BenchmarkRun) {
    return this.#call((api) => api.saveBenchmarkRun(plain(run)));
  }
  getBenchmarkRun(id: string) {
    return this.#call((api) => api.getBenchmarkRun(id));
  }
  deleteBenchmarkRun(id: string) {
    return this.#call((api) => api.deleteBenchmarkRun(id));
  }

  /** Every tensor of a cached model as stored: for tests and debugging (`?debug`). */
  readTensors(id: string) {
    return this.#call((api) => api.readTensors(id));
  }

  cancelJob(jobId: string): void {
    void this.#api.cancel(jobId);
  }

  /**
   * Asks the browser not to evict this site's storage. StorageManager.persist() exists only on Window
   * (not in workers), which is why this one call runs on the main thread. Null: the API is missing.
   */
  async persist(): Promise<boolean | null> {
    if (!navigator.storage?.persist) return null;
    return navigator.storage.persist();
  }

  /** Downloads or copies a model into the cache, reporting progress through `job`. */
  async cacheModel(source: ModelSource, label: string): Promise<CachedModelSummary> {
    if (this.job) throw new StudioError({ name: 'Busy', message: `Already loading ${this.job.label}`, where: {} });
    const id = newId();
    this.job = { id, label, progress: null, cancelling: false };
    const onProgress = callback((p: Progress) => {
      if (this.job?.id === id) this.job.progress = p;
    });
    try {
      return await this.#call((api) => api.cacheModel(id, source, onProgress));
    } finally {
      if (this.job?.id === id) this.job = null;
    }
  }

  /** Cancels the running download; its cacheModel call then fails with a cancelled StudioError. */
  cancel(): void {
    const job = this.job;
    if (!job || job.cancelling) return;
    job.cancelling = true;
    void this.#api.cancel(job.id);
  }

  /** Terminates the worker (freeing its GPU memory) and starts a fresh one. Running work is abandoned. */
  restart(): void {
    this.#worker.terminate();
    this.#terminate(new StudioError({ name: 'CancelledError', message: 'The studio worker was restarted', where: {} }));
    this.job = null;
    this.deviceLost = null; // the fresh worker acquires a fresh device
    this.#start();
    this.generation++;
  }

  dispose(): void {
    this.#worker.terminate();
    this.#terminate(new StudioError({ name: 'CancelledError', message: 'The studio was closed', where: {} }));
  }
}
