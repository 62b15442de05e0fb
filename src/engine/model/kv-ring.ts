/**
 * How many KV slots a sliding-window layer keeps (kv-cache.ts): a ring instead of the whole context. A query at
 * slot q of a run of T tokens sees the W most recent real keys up to q; the run writes slots past..past+T−1. So a
 * ring of R slots (slot s at row s mod R) never overwrites a key some query of the run still needs when
 * R ≥ (W − 1) + holes + T, holes being the most masked slots (a ragged prefill's padding) inside any row's window.
 * One rule for the cache, prefill's chunking and the memory plan.
 */
import type { ModelConfig } from '../../io/config.ts';

/** Prefill runs a long prompt through a ringed cache in chunks of max(window, this) tokens. */
export const PREFILL_CHUNK = 256;

/** The sliding layers' window (they share one), 0 when no layer slides. */
export function slidingWindowOf(cfg: Pick<ModelConfig, 'layerWindows'>): number {
  return Math.max(0, ...cfg.layerWindows);
}

/** Tokens a prefill of `T` tokens runs at once into a cache whose sliding layers ring (its chunk). */
export function prefillChunk(cfg: Pick<ModelConfig, 'layerWindows'>, T: number): number {
  return Math.min(T, Math.max(slidingWindowOf(cfg), PREFILL_CHUNK));
}

/**
 * Slots each sliding layer keeps per row for runs of up to `run` tokens with up to `holes` masked slots in a row:
 * (W − 1) + holes + run, or 0 (no ring: every layer keeps `capacity`) when that is not below the capacity or no
 * layer slides.
 */
export function kvRingSlots(cfg: Pick<ModelConfig, 'layerWindows'>, capacity: number, run: number, holes = 0): number {
  const W = slidingWindowOf(cfg);
  if (W === 0) return 0;
  const R = W - 1 + holes + run;
  return R < capacity ? R : 0;
}

/** Slots per row of layer l's k and v: the ring for a sliding layer when there is one, else the capacity. */
export function kvLayerSlots(cfg: Pick<ModelConfig, 'layerWindows'>, l: number, capacity: number, ring: number): number {
  return ring > 0 && cfg.layerWindows[l]! > 0 ? ring : capacity;
}
