// The model resident on the GPU for chat, and generation with it. One model at a time: a second load replaces
// the first, because even small models take a large share of a browser GPU's memory.
import { AlloyError, CancelledError, throwIfAborted } from '../io/errors.ts';
import { ProgressMeter, type ProgressFn } from '../io/progress.ts';
import type { ModelFiles } from '../io/model-files.ts';
import { readJson } from '../io/model-files.ts';
import { parseModelConfig } from '../io/config.ts';
import { openCheckpoint } from '../io/safetensors/checkpoint.ts';
import type { AlloyTokenizer } from '../io/tokenizer.ts';
import { generate, loadModel, type Model } from '../engine/model/index.ts';
import { currentGpuEngine, gpuEngine, type GpuEngine } from './gpu-state.ts';
import type { FinishReason, GenerateRequest, GenerateSummary, GenerateUpdate, GpuMemory, LoadedModel } from './api.ts';

interface Resident {
  id: string;
  label: string;
  model: Model;
  tokenizer: AlloyTokenizer;
  engine: GpuEngine;
}

export interface ChatDeps {
  files(id: string): Promise<ModelFiles>;
  tokenizer(id: string): Promise<AlloyTokenizer>;
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
      const engine = await gpuEngine();
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
      this.#resident = { id, label: files.label, model, tokenizer, engine };
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
    r.model.dispose();
    r.engine.pool.trim(); // hand the weights' memory back to the driver, not just to the pool
  }
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
