/**
 * The output vocabulary of a merge with a tokenizer rule (mergekit's `tokenizer_source: base | union | <model>`
 * or `tokenizer: {source, tokens, pad_to_multiple_of}`), and each model's embedding rows permuted into it
 * (mergekit's tokenizer/build.py and tokenizer/embed.py::PermutedEmbeddings).
 *
 * Layout: an embedding (or lm_head) is [rows, hidden] row-major; row i is token id i. The output has
 * `size` rows: `tokens.length` real tokens, then padding up to a multiple of pad_to_multiple_of.
 * `index.get(ref)[outId]` is that model's row for the output token, or −1 when the model lacks it.
 *
 * A token a model lacks gets, in that model's permuted matrix, a default row chosen once per token:
 * from the only model that has it; a zero row when none has it; the base model's row when the base has it;
 * else the mean over the models that have it. A `tokens:` override replaces the default (and with `force`
 * also the rows of the models that have the token). Padding rows are the mean of the real rows.
 *
 * Union order: the base's vocabulary as it is, then every other model's tokens it lacks, model by model in the
 * config's order and by id within a model. mergekit walks Python dicts built from the Rust tokenizer's hash
 * map, whose order is not defined; ordering by id is the deterministic reading of the same rule.
 */
import { AlloyError } from '../../common/errors.ts';
import { hasFile, readJson } from '../../io/model-files.ts';
import type { MergeConfig } from './config.ts';
import type { Parent } from './parents.ts';

export type TokenSource = { kind: 'model'; ref: string } | { kind: 'model_token'; ref: string; token?: string; tokenId?: number } | { kind: 'zero' };

export interface TokenOverride {
  source: TokenSource;
  force: boolean;
}

export interface OutputVocab {
  /** 'base', 'union' or a model reference, as configured */
  source: string;
  /** output id → token string */
  tokens: string[];
  /** rows of the output embedding (tokens.length rounded up to pad_to_multiple_of) */
  size: number;
  /** per model reference: output id → that model's row, −1 where it lacks the token */
  index: Map<string, Int32Array>;
  /** per model reference: its vocabulary (token → id) */
  vocabs: Map<string, Map<string, number>>;
  overrides: Map<string, TokenOverride>;
  /** the model whose tokenizer files the output copies (for union: the base, with the new tokens added) */
  filesFrom: string;
  /** tokens appended to the base's vocabulary (union only), in output id order */
  added: string[];
}

/** token → id over tokenizer.json's model vocabulary and its added tokens (what tokenizer.get_vocab() returns). */
export function vocabOfTokenizerJson(json: unknown, label: string): Map<string, number> {
  const root = json as { model?: { vocab?: unknown }; added_tokens?: Array<{ id?: unknown; content?: unknown }> };
  const vocab = new Map<string, number>();
  const v = root?.model?.vocab;
  if (Array.isArray(v)) {
    // Unigram: [[piece, score], …], the id is the position
    v.forEach((entry, id) => {
      if (Array.isArray(entry) && typeof entry[0] === 'string') vocab.set(entry[0], id);
    });
  } else if (v && typeof v === 'object') {
    for (const [tok, id] of Object.entries(v as Record<string, unknown>)) if (typeof id === 'number') vocab.set(tok, id);
  } else {
    throw new AlloyError(`${label}: tokenizer.json has no model.vocab`, { file: 'tokenizer.json' });
  }
  for (const t of root.added_tokens ?? []) if (typeof t.content === 'string' && typeof t.id === 'number') vocab.set(t.content, t.id);
  return vocab;
}

function byId(vocab: Map<string, number>): string[] {
  return [...vocab].sort((a, b) => a[1] - b[1]).map(([t]) => t);
}

function parseSource(raw: unknown, token: string, parents: Map<string, Parent>): TokenSource {
  const where = { field: `tokenizer.tokens.${token}.source` };
  const known = (ref: unknown): string => {
    if (typeof ref !== 'string' || !parents.has(ref)) throw new AlloyError(`tokenizer.tokens["${token}"]: source model ${JSON.stringify(ref)} is not one of the merge's models`, where);
    return ref;
  };
  if (typeof raw === 'string') return { kind: 'model', ref: known(raw) };
  const o = (raw ?? {}) as Record<string, unknown>;
  if (o.kind === 'zero') return { kind: 'zero' };
  if (o.kind === 'model_token') {
    const ref = known(o.model);
    if (typeof o.token_id === 'number') return { kind: 'model_token', ref, tokenId: o.token_id };
    if (typeof o.token === 'string') return { kind: 'model_token', ref, token: o.token };
    throw new AlloyError(`tokenizer.tokens["${token}"]: a model_token source needs token or token_id`, where);
  }
  throw new AlloyError(`tokenizer.tokens["${token}"]: source must be a model, {kind: model_token, …} or {kind: zero}`, where);
}

/** The output vocabulary for a merge config with a tokenizer rule, or null when it has none. */
export async function buildOutputVocab(config: MergeConfig, parents: Map<string, Parent>, baseRef: string): Promise<OutputVocab | null> {
  const source = config.tokenizer?.source ?? config.tokenizerSource;
  if (source === undefined) return null;
  const vocabs = new Map<string, Map<string, number>>();
  for (const [ref, p] of parents) {
    if (!hasFile(p.files, 'tokenizer.json')) {
      throw new AlloyError(`${ref} has no tokenizer.json, which tokenizer_source needs to match its embedding rows to tokens`, { file: 'tokenizer.json' });
    }
    vocabs.set(ref, vocabOfTokenizerJson(await readJson(p.files, 'tokenizer.json'), ref));
  }
  let tokens: string[];
  let filesFrom: string;
  const added: string[] = [];
  if (source === 'base') {
    filesFrom = baseRef;
    tokens = byId(vocabs.get(baseRef)!);
  } else if (source === 'union') {
    filesFrom = baseRef;
    tokens = byId(vocabs.get(baseRef)!);
    const seen = new Set(tokens);
    for (const [ref, v] of vocabs) {
      if (ref === baseRef) continue;
      for (const t of byId(v)) if (!seen.has(t)) (seen.add(t), tokens.push(t), added.push(t));
    }
  } else if (parents.has(source)) {
    filesFrom = source;
    tokens = byId(vocabs.get(source)!);
  } else {
    throw new AlloyError(`tokenizer_source "${source}" is neither base, union nor one of the merge's models (${[...parents.keys()].join(', ')})`, { field: 'tokenizer_source' });
  }
  // A tokenizer.json whose ids skip numbers would leave rows without a token; mergekit's get_vocab has the same
  // contract (ids are 0 … n−1), so this is refused rather than guessed.
  if (source !== 'union') {
    const v = vocabs.get(filesFrom)!;
    tokens.forEach((t, i) => {
      if (v.get(t) !== i) throw new AlloyError(`${filesFrom}: tokenizer.json's ids are not 0…${tokens.length - 1} (token ${JSON.stringify(t)} has id ${v.get(t)})`, { file: 'tokenizer.json' });
    });
  }
  const pad = config.tokenizer?.padToMultipleOf;
  const size = pad ? Math.ceil(tokens.length / pad) * pad : tokens.length;
  const index = new Map<string, Int32Array>();
  for (const [ref, v] of vocabs) {
    const rows = parents.get(ref)!.config.vocabSize;
    // an id past the model's embedding rows (a tokenizer bigger than its model) counts as missing
    index.set(ref, Int32Array.from(tokens, (t) => { const id = v.get(t); return id !== undefined && id < rows ? id : -1; }));
  }
  const overrides = new Map<string, TokenOverride>();
  for (const [token, raw] of Object.entries(config.tokenizer?.tokens ?? {})) {
    const o = (raw ?? {}) as Record<string, unknown>;
    overrides.set(token, { source: parseSource(o.source, token, parents), force: o.force === true });
  }
  return { source, tokens, size, index, vocabs, overrides, filesFrom, added };
}

export interface EmbeddingInput {
  ref: string;
  /** [rows, cols] f32 */
  data: Float32Array;
}

/** Each input's matrix permuted into the output vocabulary: [vocab.size, cols] each, in input order. */
export function permuteEmbeddings(vocab: OutputVocab, inputs: readonly EmbeddingInput[], baseRef: string, cols: number, tensor: string): Float32Array[] {
  const n = vocab.tokens.length;
  const rowOf = (x: EmbeddingInput, id: number) => x.data.subarray(id * cols, (id + 1) * cols);
  const byRef = new Map(inputs.map((x) => [x.ref, x]));
  const defaults = new Map<number, Float32Array>();
  const fromSource = (s: TokenSource, outId: number, token: string): Float32Array => {
    if (s.kind === 'zero') return new Float32Array(cols);
    const x = byRef.get(s.ref);
    if (!x) throw new AlloyError(`tokenizer.tokens["${token}"]: ${s.ref} is not an input of "${tensor}"`, { tensor });
    const id = s.kind === 'model' ? vocab.index.get(s.ref)![outId]! : s.tokenId ?? vocab.vocabs.get(s.ref)!.get(s.token!) ?? -1;
    if (id < 0 || (id + 1) * cols > x.data.length) throw new AlloyError(`tokenizer.tokens["${token}"]: ${s.ref} has no row for it in "${tensor}"`, { tensor });
    return rowOf(x, id).slice();
  };
  for (let outId = 0; outId < n; outId++) {
    const token = vocab.tokens[outId]!;
    const o = vocab.overrides.get(token);
    if (o) {
      defaults.set(outId, fromSource(o.source, outId, token));
      continue;
    }
    const having = inputs.filter((x) => vocab.index.get(x.ref)![outId]! >= 0);
    if (having.length === inputs.length) continue;
    if (having.length === 1) defaults.set(outId, rowOf(having[0]!, vocab.index.get(having[0]!.ref)![outId]!).slice());
    else if (having.length === 0) defaults.set(outId, new Float32Array(cols));
    else if (having.some((x) => x.ref === baseRef)) defaults.set(outId, rowOf(byRef.get(baseRef)!, vocab.index.get(baseRef)![outId]!).slice());
    else {
      const mean = new Float32Array(cols);
      const acc = new Float64Array(cols);
      for (const x of having) {
        const r = rowOf(x, vocab.index.get(x.ref)![outId]!);
        for (let c = 0; c < cols; c++) acc[c]! += r[c]!;
      }
      for (let c = 0; c < cols; c++) mean[c] = acc[c]! / having.length;
      defaults.set(outId, mean);
    }
  }
  return inputs.map((x) => {
    const out = new Float32Array(vocab.size * cols);
    const p = vocab.index.get(x.ref)!;
    for (let outId = 0; outId < n; outId++) {
      const own = p[outId]!;
      const forced = vocab.overrides.get(vocab.tokens[outId]!)?.force === true;
      out.set(own >= 0 && !forced ? rowOf(x, own) : defaults.get(outId)!, outId * cols);
    }
    if (vocab.size > n) {
      // padding rows: the mean of the real rows (mergekit, after Hewitt's vocabulary-expansion note)
      const acc = new Float64Array(cols);
      for (let i = 0; i < n * cols; i++) acc[i % cols]! += out[i]!;
      const mean = Float32Array.from(acc, (s) => s / n);
      for (let outId = n; outId < vocab.size; outId++) out.set(mean, outId * cols);
    }
    return out;
  });
}

/**
 * The union's tokenizer.json and tokenizer_config.json: the base's, with the new tokens appended as added
 * tokens (what transformers' add_tokens does: normalized, not special).
 */
export function unionTokenizerFiles(vocab: OutputVocab, tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown> | null): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> | null } {
  const base = vocab.tokens.length - vocab.added.length;
  const entries = vocab.added.map((content, i) => ({ id: base + i, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false }));
  const json = structuredClone(tokenizerJson);
  json.added_tokens = [...((json.added_tokens as unknown[] | undefined) ?? []), ...entries];
  let cfg: Record<string, unknown> | null = null;
  if (tokenizerConfig) {
    cfg = structuredClone(tokenizerConfig);
    const dec = { ...((cfg.added_tokens_decoder as Record<string, unknown> | undefined) ?? {}) };
    for (const e of entries) dec[String(e.id)] = { content: e.content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false };
    cfg.added_tokens_decoder = dec;
  }
  return { tokenizerJson: json, tokenizerConfig: cfg };
}
