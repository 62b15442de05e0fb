// The model resident on the GPU for chat, and generation with it. One model at a time: a second load replaces
// the first, because even small models take a large share of a browser GPU's memory.
// A stored LoRA adapter (a training run's checkpoint or an imported PEFT adapter) can be applied to the resident
// model: its A/B matrices go on the GPU beside the weights and the forward adds scale·(x·Aᵀ)·Bᵀ to each adapted
// projection (engine/lora/adapter.ts), which is the folded model's W + scale·B·A without writing a new model.
// Going back to the base only disables the adapter, so comparing base and adapter back and forth costs nothing.
import { AlloyError, CancelledError, throwIfAborted } from '../common/errors.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import type { ModelFiles } from '../io/model-files.ts';
import { memoryModelFiles, readJson } from '../io/model-files.ts';
import { parseModelConfig } from '../io/config.ts';
import { openCheckpoint } from '../io/safetensors/checkpoint.ts';
import type { AlloyTokenizer } from '../io/tokenizer.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapter } from '../io/peft.ts';
import { forward, generate, loadModel, warmKernels, type Model } from '../engine/model/index.ts';
import { loraFromTensors, type GpuLora } from '../engine/lora/adapter.ts';
import { LORA_TARGETS } from '../engine/lora/targets.ts';
import { currentGpuEngine, gpuEngine, type GpuEngine } from './gpu-state.ts';
import type {
  ActiveAdapter,
  AdapterChoice,
  ChatAdapterState,
  FinishReason,
  GenerateRequest,
  GenerateSummary,
  GenerateUpdate,
  GpuMemory,
  LoadedModel,
} from './api.ts';

interface Attached {
  info: ActiveAdapter;
  lora: GpuLora;
}

interface Resident {
  id: string;
  label: string;
  model: Model;
  tokenizer: AlloyTokenizer;
  engine: GpuEngine;
  /** the adapter on the GPU: applied while lora.enabled, kept but off after a switch back to the base */
  adapter: Attached | null;
}

/** A stored adapter's PEFT files (train.ts peftFilesOf) and what it was made for. */
export interface StoredAdapterFiles {
  runId: string;
  label: string;
  /** the cached base model it was trained or imported for */
  modelId: string;
  modelLabel: string;
  step: number;
  imported: boolean;
  config: Uint8Array;
  weights: Uint8Array;
}

export interface ChatDeps {
  files(id: string): Promise<ModelFiles>;
  tokenizer(id: string): Promise<AlloyTokenizer>;
  /** a stored adapter's files (default step: the run's latest checkpoint) */
  adapter(runId: string, step?: number): Promise<StoredAdapterFiles>;
  /** the GPU (default: the worker's); Node tests pass Dawn's */
  engine?(): Promise<GpuEngine>;
}

export class ChatHost {
  #resident: Resident | null = null;
  /** GPU work runs one job at a time: a load must not dispose weights a generation is still reading. */
  #queue: Promise<unknown> = Promise.resolve();
  /** the running generation's controller, so a load or unload can stop it instead of waiting for max tokens */
  #generating: AbortController | null = null;

  constructor(private readonly deps: ChatDeps) {}

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  async load(id: string, opts: { signal?: AbortSignal; onProgress?: ProgressFn } = {}): Promise<LoadedModel> {
    this.#generating?.abort();
    return this.#exclusive(async () => {
      throwIfAborted(opts.signal, 'loading');
      const files = await this.deps.files(id);
      const config = parseModelConfig(await readJson(files, 'config.json'), 'config.json');
      const checkpoint = await openCheckpoint(files);
      const tokenizer = await this.deps.tokenizer(id);
      const engine = await (this.deps.engine?.() ?? gpuEngine());
      this.#dispose(); // before uploading, so two models never share the GPU
      let meter: ProgressMeter | null = null;
      const model = await loadModel(engine.ctx, engine.kernels, engine.pool, checkpoint, config, {
        onProgress: (done, total) => {
          meter ??= new ProgressMeter(total, opts.onProgress, 'uploading weights');
          meter.add(done - meter.value);
        },
      });
      if (opts.signal?.aborted) {
        model.dispose();
        engine.pool.trim();
        throw new CancelledError('loading');
      }
      // Compile every kernel now, so the first reply does not wait for it.
      await warmKernels(model, opts.onProgress);
      this.#resident = { id, label: files.label, model, tokenizer, engine, adapter: null };
      return {
        id,
        label: files.label,
        weightBytes: model.weightBytes,
        memory: engine.pool.stats(),
        hasChatTemplate: tokenizer.hasChatTemplate,
        contextLength: config.maxPositionEmbeddings,
      };
    });
  }

  async unload(): Promise<GpuMemory | null> {
    this.#generating?.abort();
    return this.#exclusive(async () => {
      this.#dispose();
      return memory();
    });
  }

  /**
   * Applies a stored adapter to the resident model (null: back to the base model). The adapter must have been
   * trained or imported for this very model; the same adapter again is only switched back on, another replaces it.
   */
  async setAdapter(choice: AdapterChoice | null): Promise<ChatAdapterState> {
    return this.#exclusive(async () => {
      const r = this.#resident;
      if (!r) throw new AlloyError('No model is loaded on the GPU: load one first.');
      const kept = r.adapter;
      if (choice === null) {
        if (kept) kept.lora.enabled = false;
      } else if (kept && kept.info.runId === choice.runId && choice.step !== undefined && kept.info.step === choice.step) {
        kept.lora.enabled = true;
      } else {
        const stored = await this.deps.adapter(choice.runId, choice.step);
        if (stored.modelId !== r.id) {
          throw new AlloyError(`${stored.label} is an adapter for ${stored.modelLabel}, not for ${r.label}: load that model to chat with it.`);
        }
        const lora = await uploadAdapter(r.model, r.label, stored);
        r.adapter = null;
        kept?.lora.dispose();
        r.adapter = { info: { runId: stored.runId, label: stored.label, step: stored.step, imported: stored.imported, summary: summarize(lora) }, lora };
      }
      return { adapter: active(r), memory: r.engine.pool.stats() };
    });
  }

  /**
   * Logits [T, vocab] of `ids` on the resident model with the adapter applied now (tests: they equal the folded
   * model's).
   */
  async logits(ids: readonly number[]): Promise<Float32Array> {
    return this.#exclusive(async () => {
      const r = this.#resident;
      if (!r) throw new AlloyError('No model is loaded on the GPU: load one first.');
      const [out] = await forward(r.model, [ids], { lora: r.adapter?.lora ?? null });
      return out!;
    });
  }

  /** Forgets the model of a lost device (its buffers died with it) and says which it was. */
  dropLost(lost: GpuEngine): { id: string; label: string } | null {
    const r = this.#resident;
    if (!r || r.engine !== lost) return null;
    this.#resident = null;
    this.#generating?.abort();
    return { id: r.id, label: r.label };
  }

  async generate(req: GenerateRequest, opts: { signal?: AbortSignal; onUpdate?: (u: GenerateUpdate) => void }): Promise<GenerateSummary> {
    return this.#exclusive(async () => {
      throwIfAborted(opts.signal, 'generation');
      const r = this.#resident;
      if (!r) throw new AlloyError('No model is loaded on the GPU: load one first.');
      const promptIds = encodePrompt(r.tokenizer, req);
      const context = r.model.config.maxPositionEmbeddings;
      if (promptIds.length >= context) {
        throw new AlloyError(
          `The prompt is ${promptIds.length} tokens, and ${r.label} reads at most ${context} (max_position_embeddings). ` +
            (req.mode === 'chat' ? 'Clear the conversation to start afresh.' : 'Shorten the prompt.'),
        );
      }
      // Our own controller too, so a load or unload can stop this run; the job's signal feeds it.
      const controller = new AbortController();
      const onAbort = () => controller.abort();
      opts.signal?.addEventListener('abort', onAbort);
      this.#generating = controller;
      // Generate mode shows prompt + continuation as one text, so the continuation keeps its leading space.
      const stream = new TextStream(r.tokenizer, req.mode === 'chat' ? [] : promptIds.slice(-1));
      const t0 = performance.now();
      try {
        const result = await generate(r.model, promptIds, {
          maxTokens: req.maxTokens,
          temperature: req.temperature,
          topK: req.topK,
          topP: req.topP,
          seed: req.seed,
          eosTokenIds: r.tokenizer.eosTokenIds,
          lora: r.adapter?.lora ?? null,
          ...(req.kvCache ? { kvDtype: req.kvCache } : {}),
          onToken: (token) => {
            const u = stream.push(token);
            opts.onUpdate?.({ ...u, seconds: (performance.now() - t0) / 1000 });
            return !controller.signal.aborted;
          },
        });
        const seconds = (performance.now() - t0) / 1000;
        const n = result.tokens.length;
        const finishReason: FinishReason =
          result.finishReason === 'length' && n < req.maxTokens ? 'context' : result.finishReason;
        return {
          text: stream.text(),
          tokens: n,
          promptTokens: promptIds.length,
          seconds,
          tokensPerSecond: seconds > 0 ? n / seconds : 0,
          finishReason,
          memory: r.engine.pool.stats(),
          adapter: active(r),
        };
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        if (this.#generating === controller) this.#generating = null;
      }
    });
  }

  #dispose(): void {
    const r = this.#resident;
    if (!r) return;
    this.#resident = null;
    r.adapter?.lora.dispose();
    r.model.dispose();
    r.engine.pool.trim(); // hand the weights' memory back to the driver, not just to the pool
  }
}

/** The adapter the resident model runs with now; null: the base model. */
function active(r: Resident): ActiveAdapter | null {
  return r.adapter?.lora.enabled ? r.adapter.info : null;
}

/**
 * A stored adapter's A/B matrices on the GPU beside the model's weights, read through the same PEFT reader as the
 * CLI's `--adapter` and the fold (io/peft.ts), so applying it here and folding it give the same model.
 */
async function uploadAdapter(model: Model, modelLabel: string, stored: StoredAdapterFiles): Promise<GpuLora> {
  const files = memoryModelFiles({ [ADAPTER_CONFIG]: stored.config, [ADAPTER_WEIGHTS]: stored.weights }, `${stored.label} adapter`);
  const adapter = await readPeftAdapter(files);
  const tensors = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (const p of adapter.pairs) {
    tensors.set(p.target.replace(/\.weight$/, ''), { a: await adapter.file.readF32(p.a), b: await adapter.file.readF32(p.b) });
  }
  const lora = loraFromTensors(model, adapter.config, tensors, { grads: false }); // applied, never trained here
  if (lora.modules.length !== tensors.size) {
    // a module this model lacks would be skipped silently: the replies would not be the adapter's
    const have = new Set(lora.modules.map((m) => m.path));
    const missing = [...tensors.keys()].filter((k) => !have.has(k));
    lora.dispose();
    throw new AlloyError(`${stored.label} adapts ${missing.join(', ')}, which ${modelLabel} does not have`, { tensor: missing[0] });
  }
  return lora;
}

function summarize(lora: GpuLora): string {
  const n = lora.modules.length;
  const targets = LORA_TARGETS.filter((t) => lora.targets.includes(t)); // PEFT's order, whatever the file's
  return `r ${lora.r}, alpha ${lora.alpha}${lora.useRslora ? ' (rsLoRA)' : ''}, ${targets.join(', ')}, ${n} module${n === 1 ? '' : 's'}`;
}

export function memory(): GpuMemory | null {
  return currentGpuEngine()?.pool.stats() ?? null;
}

function encodePrompt(tok: AlloyTokenizer, req: GenerateRequest): number[] {
  if (req.mode === 'chat') {
    if (!tok.hasChatTemplate) throw new AlloyError('This model has no chat template: use Generate mode to continue a text.');
    const text = tok.applyChatTemplate(req.messages, { addGenerationPrompt: true });
    // The template writes its own special tokens (BOS included); adding them again would double them.
    return tok.encode(text, { addSpecialTokens: false });
  }
  const ids = tok.encode(req.prompt, { addSpecialTokens: true });
  if (ids.length === 0) throw new AlloyError('The prompt is empty: type some text to continue.');
  return ids;
}

/**
 * Turns tokens into text deltas. Decoding ids one by one would split multi-byte characters (and lose the
 * decoder's spacing rules), so each step decodes the whole continuation; a trailing U+FFFD is an incomplete
 * character and is held back until the next token completes it.
 * Special tokens other than the EOS that ends the reply are shown: this is a studio, and a model that emits
 * <|im_start|> mid-reply (an untrained or mis-templated one) should be seen doing so, not look silent.
 */
export class TextStream {
  #ids: number[] = [];
  #shown = '';
  readonly #eos: ReadonlySet<number>;
  #contextText: string | null = null;

  /**
   * `context`: prompt tokens the reply continues (the last one is enough). SentencePiece decoders strip the
   * leading space of a decoded text, so a continuation decoded on its own loses the space between the prompt and
   * its first word ("Lily." + "She"); decoding it after its context and cutting the context's text keeps it.
   */
  constructor(
    private readonly tok: Pick<AlloyTokenizer, 'decode' | 'eosTokenIds'>,
    private readonly context: readonly number[] = [],
  ) {
    this.#eos = new Set(tok.eosTokenIds);
  }

  push(id: number): { at: number; delta: string; tokens: number } {
    this.#ids.push(id);
    const stable = this.text().replace(/\uFFFD+$/, '');
    let at = 0;
    const max = Math.min(stable.length, this.#shown.length);
    while (at < max && stable.charCodeAt(at) === this.#shown.charCodeAt(at)) at++;
    const prev = stable.charCodeAt(at - 1);
    if (at > 0 && prev >= 0xd800 && prev <= 0xdbff) at--; // never cut a surrogate pair in two
    const delta = stable.slice(at);
    this.#shown = stable;
    return { at, delta, tokens: this.#ids.length };
  }

  text(): string {
    const ids = this.#ids;
    const end = ids.length > 0 && this.#eos.has(ids[ids.length - 1]!) ? ids.length - 1 : ids.length;
    const body = ids.slice(0, end);
    if (this.context.length === 0) return this.tok.decode(body);
    const head = (this.#contextText ??= this.tok.decode(this.context));
    const all = this.tok.decode([...this.context, ...body]);
    // A context ending mid-character decodes differently alone; then the plain decode is the best there is.
    return all.startsWith(head) ? all.slice(head.length) : this.tok.decode(body);
  }
}
