/**
 * KV cache for incremental decoding: `prefill` runs the prompt(s) once and keeps every layer's keys and values;
 * each `step` then feeds one new token per row and attends over the cache.
 *
 * Memory layout: per layer, k and v f32 [batch, capacity, nKv, headDim] (slot-major within a row, the layout the
 * attention kernel reads with S = capacity). Slots are shared across rows: prefill fills slots 0..T−1 (rows
 * shorter than T leave masked holes after their last token), each step fills the next slot. The host keeps the
 * key mask [batch, capacity] and each row's next RoPE position (its own token count), see forward.ts.
 */
import { AlloyError } from '../../common/errors.ts';
import { padBatch, runForward } from './forward.ts';
import { readLogits, type GpuLogits } from './head.ts';
import { assertLive, type Model } from './weights.ts';
import type { GpuLora } from '../lora/adapter.ts';

export class KvCache {
  /** slots filled so far (the same for every row) */
  used = 0;
  private released = false;

  constructor(
    readonly model: Model,
    readonly batch: number,
    readonly capacity: number,
    readonly k: GPUBuffer[],
    readonly v: GPUBuffer[],
    /** [batch·capacity], 1 where a slot holds a real token */
    readonly mask: Uint32Array,
    /** next RoPE position per row */
    readonly positions: number[],
    /**
     * LoRA adapters every pass through this cache runs with (chat with an adapter attached): the keys and values
     * already cached were computed with them, so a cache never mixes a prompt with and without adapters.
     */
    readonly lora: GpuLora | null = null,
  ) {}

  static create(model: Model, batch: number, capacity: number, lora: GpuLora | null = null): KvCache {
    assertLive(model);
    const { config: cfg, pool, device } = model;
    const bytes = batch * capacity * cfg.numKvHeads * cfg.headDim * 4;
    const k: GPUBuffer[] = [];
    const v: GPUBuffer[] = [];
    // Pool buffers come back with old contents; zero them so a masked slot's value is finite (0·NaN would be NaN).
    const enc = device.createCommandEncoder({ label: 'kv-cache.clear' });
    for (let l = 0; l < cfg.numLayers; l++) {
      for (const list of [k, v]) {
        const b = pool.alloc(bytes, `kv-cache.${l}`);
        enc.clearBuffer(b);
        list.push(b);
      }
    }
    device.queue.submit([enc.finish()]);
    return new KvCache(model, batch, capacity, k, v, new Uint32Array(batch * capacity), new Array<number>(batch).fill(0), lora);
  }

  get isReleased(): boolean {
    return this.released;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const b of [...this.k, ...this.v]) this.model.pool.release(b);
  }

  /** Runs T new slots (tokens [batch·T], lengths ≤ T real tokens per row) and returns logits of the given rows. */
  async run(ids: Uint32Array, T: number, real: readonly number[], logitRows: Uint32Array): Promise<Float32Array> {
    if (this.released) throw new AlloyError('this KV cache was released');
    const B = this.batch;
    const past = this.used;
    if (past + T > this.capacity) {
      throw new AlloyError(`the KV cache holds ${this.capacity} tokens; ${past} used, ${T} more do not fit`);
    }
    const positions = new Uint32Array(B * T);
    const before = [...this.positions];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) positions[b * T + t] = this.positions[b]! + Math.min(t, Math.max(real[b]! - 1, 0));
      this.mask.fill(1, b * this.capacity + past, b * this.capacity + past + real[b]!);
      this.positions[b] = this.positions[b]! + real[b]!;
    }
    let logits: GpuLogits;
    try {
      if (Math.max(...this.positions) > this.model.config.maxPositionEmbeddings) {
        throw new AlloyError(`sequence longer than max_position_embeddings (${this.model.config.maxPositionEmbeddings})`);
      }
      logits = await runForward(this.model, {
        batch: B,
        T,
        ids,
        positions,
        mask: this.mask,
        kv: { k: this.k, v: this.v, capacity: this.capacity, past },
        logitRows,
        lora: this.lora,
      });
    } catch (e) {
      // Leave the cache as it was (e.g. after a bad token id), so the caller can carry on with valid input.
      for (let b = 0; b < B; b++) this.mask.fill(0, b * this.capacity + past, (b + 1) * this.capacity);
      this.positions.splice(0, B, ...before);
      throw e;
    }
    this.used += T;
    return readLogits(this.model, logits);
  }
}

export interface PrefillResult {
  cache: KvCache;
  /** logits of each row's last token, [vocab] per row */
  logits: Float32Array[];
}

/**
 * Runs the prompts (ragged rows, right-padded internally) into a fresh cache of `capacity` slots (default: the
 * longest prompt + 256, at most max_position_embeddings). With `lora`, the prompt and every later step run with it.
 */
export async function prefill(
  model: Model,
  prompts: readonly (readonly number[])[],
  opts: { capacity?: number; lora?: GpuLora | null } = {},
): Promise<PrefillResult> {
  const { ids, T } = padBatch(prompts);
  const B = prompts.length;
  const capacity = opts.capacity ?? Math.min(T + 256, model.config.maxPositionEmbeddings);
  if (capacity < T) throw new RangeError(`cache capacity ${capacity} is below the prompt length ${T}`);
  const cache = KvCache.create(model, B, capacity, opts.lora ?? null);
  try {
    const lastRows = Uint32Array.from(prompts, (p, b) => b * T + p.length - 1);
    const all = await cache.run(ids, T, prompts.map((p) => p.length), lastRows);
    return { cache, logits: splitRows(all, B, model.config.vocabSize) };
  } catch (e) {
    cache.release();
    throw e;
  }
}

/** Feeds one token per row; returns each row's next-token logits [vocab]. */
export async function step(cache: KvCache, tokens: readonly number[]): Promise<Float32Array[]> {
  if (tokens.length !== cache.batch) throw new RangeError(`step needs ${cache.batch} tokens (one per row), got ${tokens.length}`);
  const B = cache.batch;
  const all = await cache.run(
    Uint32Array.from(tokens),
    1,
    tokens.map(() => 1),
    Uint32Array.from({ length: B }, (_, b) => b),
  );
  return splitRows(all, B, cache.model.config.vocabSize);
}

function splitRows(all: Float32Array, rows: number, V: number): Float32Array[] {
  return Array.from({ length: rows }, (_, r) => all.slice(r * V, (r + 1) * V));
}
