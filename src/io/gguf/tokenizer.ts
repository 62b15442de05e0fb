// The tokenizer.ggml.* metadata of a GGUF file ↔ a Hugging Face tokenizer (tokenizer.json + tokenizer_config.json).
//
// Two kinds, as llama.cpp names them:
//  - "llama": SentencePiece BPE with byte fallback. GGUF keeps pieces, scores (SentencePiece's negated merge rank)
//    and piece types; the Hugging Face side is what transformers' LlamaConverter writes (sentencepiece.ts).
//    Export derives scores from the merge list (tokenizer.json has no scores): the pieces that merges produce
//    come first in merge-rank order, then the other normal pieces in id order, scored 0, −1, −2, … — for a
//    vocabulary that came from SentencePiece this gives back its scores exactly.
//  - "gpt2": byte-level BPE (GPT-2, SmolLM, Llama 3, Qwen2). GGUF keeps tokens, token types and merges ("a b");
//    the pre-tokenizer is named by tokenizer.ggml.pre, which llama.cpp maps to its split regex. We recognise the
//    pre-tokenizers of GPT-2 ("gpt-2"), SmolLM ("smollm"), Llama 3 ("llama-bpe") and Qwen2 ("qwen2") both ways.
import { AlloyError } from '../../common/errors.ts';
import { buildSentencePieceTokenizer, sentencePieceSpecialTokensMap, SPACE_MARKER } from '../sentencepiece.ts';
import { TokenType, type GgufValue } from './format.ts';
import type { GgufMeta } from './reader.ts';
import { gv } from './writer.ts';

type Json = Record<string, unknown>;

const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevel = (useRegex: boolean) => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });

/** tokenizer.ggml.pre → the Hugging Face pre_tokenizer it stands for. */
const PRE_TOKENIZERS: Readonly<Record<string, Json>> = {
  'gpt-2': byteLevel(true),
  smollm: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] },
  'llama-bpe': { type: 'Sequence', pretokenizers: [split(LLAMA3_SPLIT), byteLevel(false)] },
  qwen2: { type: 'Sequence', pretokenizers: [split(QWEN2_SPLIT), byteLevel(false)] },
};

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function samePreTokenizer(a: unknown, b: Json): boolean {
  // Only the fields that change how text splits; trim_offsets etc. do not.
  const norm = (p: unknown): unknown => {
    if (!isObject(p)) return p;
    switch (p.type) {
      case 'ByteLevel': return { t: 'ByteLevel', r: p.use_regex !== false };
      case 'Digits': return { t: 'Digits', i: p.individual_digits === true };
      case 'Split': return { t: 'Split', re: isObject(p.pattern) ? (p.pattern.Regex ?? p.pattern.String) : null };
      case 'Sequence': return { t: 'Sequence', s: Array.isArray(p.pretokenizers) ? p.pretokenizers.map(norm) : null };
      default: return { t: p.type };
    }
  };
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

// ---------------------------------------------------------------------------------------------------------------
// GGUF → Hugging Face

export interface HfTokenizerFiles {
  kind: 'llama' | 'gpt2';
  /** file name → JSON content */
  files: Record<string, Json>;
  warnings: string[];
}

/** The tokenizer embedded in a GGUF file as Hugging Face files, or null when the file has none. */
export function tokenizerFromGguf(meta: GgufMeta): HfTokenizerFiles | null {
  const file = meta.file.name;
  const model = meta.string('tokenizer.ggml.model', null);
  if (model === null || model === 'none') return null;
  const tokens = meta.array('tokenizer.ggml.tokens', 'string');
  if (!tokens) throw new AlloyError(`${file}: tokenizer.ggml.model is "${model}" but tokenizer.ggml.tokens is missing`, { file, field: 'tokenizer.ggml.tokens' });
  const n = tokens.length;
  const types = meta.array('tokenizer.ggml.token_type', 'number') ?? new Array<number>(n).fill(TokenType.NORMAL);
  if (types.length !== n) {
    throw new AlloyError(`${file}: tokenizer.ggml.token_type has ${types.length} entries for ${n} tokens`, { file, field: 'tokenizer.ggml.token_type' });
  }
  const id = (key: string, fallback: number | null) => {
    const v = meta.int(key, fallback);
    if (v !== null && (v < 0 || v >= n)) throw new AlloyError(`${file}: ${key} ${v} is not a token id (${n} tokens)`, { file, field: key });
    return v;
  };
  const bosId = id('tokenizer.ggml.bos_token_id', null);
  const eosId = id('tokenizer.ggml.eos_token_id', null);
  const unkId = id('tokenizer.ggml.unknown_token_id', null);
  const padId = id('tokenizer.ggml.padding_token_id', null);
  const addBos = meta.bool('tokenizer.ggml.add_bos_token', null);
  const addEos = meta.bool('tokenizer.ggml.add_eos_token', null);
  const chatTemplate = meta.string('tokenizer.chat_template', null);
  const warnings: string[] = [];

  if (model === 'llama') {
    const scores = meta.array('tokenizer.ggml.scores', 'number') ?? new Array<number>(n).fill(0);
    if (scores.length !== n) {
      throw new AlloyError(`${file}: tokenizer.ggml.scores has ${scores.length} entries for ${n} tokens`, { file, field: 'tokenizer.ggml.scores' });
    }
    const vocab = { pieces: tokens, scores, types, unkId: unkId ?? 0, bosId: bosId ?? 1, eosId: eosId ?? 2 };
    const { tokenizerJson, tokenizerConfig } = buildSentencePieceTokenizer(vocab);
    if (meta.bool('tokenizer.ggml.add_space_prefix', null) === false) {
      // no dummy prefix (Gemma): spaces become "▁" but none is put in front, and decoding strips none
      tokenizerJson.normalizer = { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARKER };
      const dec = tokenizerJson.decoder as { decoders: Json[] };
      dec.decoders = dec.decoders.filter((d) => d.type !== 'Strip');
    }
    if (addBos === false) {
      tokenizerConfig.add_bos_token = false;
      tokenizerJson.post_processor = {
        type: 'TemplateProcessing',
        single: [{ Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: {},
      };
    }
    if (addEos === true) warnings.push('tokenizer.ggml.add_eos_token is true; the Hugging Face tokenizer does not append EOS');
    if (padId !== null) tokenizerConfig.pad_token = tokens[padId];
    const ctx = meta.int('llama.context_length', null);
    if (ctx !== null) tokenizerConfig.model_max_length = ctx;
    if (chatTemplate !== null) tokenizerConfig.chat_template = chatTemplate;
    return {
      kind: 'llama',
      files: {
        'tokenizer.json': tokenizerJson,
        'tokenizer_config.json': tokenizerConfig,
        'special_tokens_map.json': sentencePieceSpecialTokensMap(vocab),
      },
      warnings,
    };
  }

  if (model === 'gpt2') {
    const merges = meta.array('tokenizer.ggml.merges', 'string');
    if (!merges) throw new AlloyError(`${file}: a "gpt2" tokenizer needs tokenizer.ggml.merges`, { file, field: 'tokenizer.ggml.merges' });
    const pre = meta.string('tokenizer.ggml.pre', null) ?? 'default';
    let preTokenizer = Object.hasOwn(PRE_TOKENIZERS, pre) ? PRE_TOKENIZERS[pre]! : undefined;
    if (!preTokenizer) {
      warnings.push(`tokenizer.ggml.pre "${pre}" is not one Alloy knows; using GPT-2's byte-level split`);
      preTokenizer = PRE_TOKENIZERS['gpt-2']!;
    }
    const vocab: Record<string, number> = {};
    const added: Json[] = [];
    tokens.forEach((t, i) => {
      if (!Object.hasOwn(vocab, t)) vocab[t] = i;
      const type = types[i];
      if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
        added.push({ id: i, content: t, single_word: false, lstrip: false, rstrip: false, normalized: type === TokenType.USER_DEFINED, special: type === TokenType.CONTROL });
      }
    });
    const bos = bosId !== null ? tokens[bosId]! : null;
    const withBos = addBos === true && bos !== null;
    const tokenizerJson: Json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: preTokenizer,
      post_processor: withBos
        ? {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
            special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
          }
        : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: unkId !== null ? tokens[unkId] : null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: pre === 'llama-bpe',
        vocab,
        merges: merges.map((m) => {
          const sp = m.indexOf(' ', 1);
          if (sp < 0) throw new AlloyError(`${file}: tokenizer.ggml.merges entry ${JSON.stringify(m)} is not "left right"`, { file, field: 'tokenizer.ggml.merges' });
          return [m.slice(0, sp), m.slice(sp + 1)];
        }),
      },
    };
    const tokenizerConfig: Json = {
      add_bos_token: withBos,
      add_eos_token: false,
      added_tokens_decoder: Object.fromEntries(added.map(({ id, ...t }) => [String(id), t])),
      bos_token: bos,
      clean_up_tokenization_spaces: false,
      eos_token: eosId !== null ? tokens[eosId] : null,
      pad_token: padId !== null ? tokens[padId] : null,
      unk_token: unkId !== null ? tokens[unkId] : null,
      model_max_length: meta.int('llama.context_length', null) ?? 2048,
      tokenizer_class: 'PreTrainedTokenizerFast',
      ...(chatTemplate !== null ? { chat_template: chatTemplate } : {}),
    };
    return { kind: 'gpt2', files: { 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': tokenizerConfig }, warnings };
  }

  throw new AlloyError(
    `${file}: tokenizer.ggml.model "${model}" is not supported (Alloy reads "llama" SentencePiece and "gpt2" byte-level BPE vocabularies)`,
    { file, field: 'tokenizer.ggml.model' },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Hugging Face → GGUF

export interface TokenizerInput {
  tokenizerJson: unknown;
  tokenizerConfig: unknown;
  /** config.json's ids, used when present (llama.cpp's converter prefers them too) */
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** rows of the embedding: the token list is padded to this with [PAD<id>] entries */
  vocabSize: number;
  label: string;
}

function contentOf(t: unknown): string | null {
  if (typeof t === 'string') return t;
  if (isObject(t) && typeof t.content === 'string') return t.content;
  return null;
}

/** tokenizer.ggml.* entries, in the order convert_hf_to_gguf writes them. */
export function ggufTokenizerMetadata(input: TokenizerInput): { entries: [string, GgufValue][]; kind: 'llama' | 'gpt2' } {
  const file = `${input.label}: tokenizer.json`;
  const tj = input.tokenizerJson;
  const tc = isObject(input.tokenizerConfig) ? input.tokenizerConfig : {};
  if (!isObject(tj) || !isObject(tj.model)) throw new AlloyError(`${file} has no "model" object`, { file: 'tokenizer.json' });
  const model = tj.model;
  if (model.type !== 'BPE') {
    throw new AlloyError(`${file}: model type ${JSON.stringify(model.type)} cannot be exported to GGUF (Alloy exports BPE tokenizers)`, { file: 'tokenizer.json', field: 'model.type' });
  }
  const hasByteLevel = (p: unknown): boolean =>
    isObject(p) && (p.type === 'ByteLevel' || (Array.isArray(p.pretokenizers) && p.pretokenizers.some(hasByteLevel)));
  const kind: 'llama' | 'gpt2' | null = model.byte_fallback === true ? 'llama' : hasByteLevel(tj.pre_tokenizer) || hasByteLevel(tj.decoder) ? 'gpt2' : null;
  if (!kind) {
    throw new AlloyError(`${file}: a BPE tokenizer with neither byte fallback (SentencePiece) nor a byte-level pre-tokenizer (GPT-2) cannot be exported to GGUF`, { file: 'tokenizer.json' });
  }
  if (!isObject(model.vocab)) throw new AlloyError(`${file}: model.vocab is not an object`, { file: 'tokenizer.json', field: 'model.vocab' });

  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(model.vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new AlloyError(`${file}: token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}`, { file: 'tokenizer.json' });
    byId.set(id, tok);
  }
  const special = new Set<number>();
  const userDefined = new Set<number>();
  for (const a of Array.isArray(tj.added_tokens) ? tj.added_tokens : []) {
    if (!isObject(a) || typeof a.id !== 'number' || typeof a.content !== 'string') continue;
    byId.set(a.id, a.content);
    (a.special === true ? special : userDefined).add(a.id);
  }
  const maxId = Math.max(-1, ...byId.keys());
  const n = Math.max(input.vocabSize, maxId + 1);
  if (n > input.vocabSize) {
    throw new AlloyError(`${file} has token ids up to ${maxId} but the model's vocab_size is ${input.vocabSize}`, { file: 'tokenizer.json' });
  }
  const ids = new Map<string, number>();
  const tokens: string[] = [];
  const types: number[] = [];
  const unkToken = typeof model.unk_token === 'string' ? model.unk_token : null;
  for (let i = 0; i < n; i++) {
    const t = byId.get(i);
    if (t === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(TokenType.UNUSED);
      continue;
    }
    tokens.push(t);
    if (!ids.has(t)) ids.set(t, i);
    if (t === unkToken && kind === 'llama') types.push(TokenType.UNKNOWN);
    else if (special.has(i)) types.push(TokenType.CONTROL);
    else if (userDefined.has(i)) types.push(TokenType.USER_DEFINED);
    else if (kind === 'llama' && /^<0x[0-9A-Fa-f]{2}>$/.test(t)) types.push(TokenType.BYTE);
    else types.push(TokenType.NORMAL);
  }

  const merges: [string, string][] = (Array.isArray(model.merges) ? model.merges : []).map((m: unknown, i: number) => {
    if (typeof m === 'string') {
      const sp = m.indexOf(' ', 1);
      if (sp > 0) return [m.slice(0, sp), m.slice(sp + 1)] as [string, string];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      return [m[0], m[1]] as [string, string];
    }
    throw new AlloyError(`${file}: merge ${i} (${JSON.stringify(m)}) is not a pair`, { file: 'tokenizer.json', field: 'model.merges' });
  });

  const lookup = (t: unknown): number | null => {
    const c = contentOf(t);
    return c === null ? null : (ids.get(c) ?? null);
  };
  const bos = input.bosTokenId ?? lookup(tc.bos_token);
  const eos = input.eosTokenIds[0] ?? lookup(tc.eos_token);
  const unk = unkToken !== null ? (ids.get(unkToken) ?? null) : lookup(tc.unk_token);
  const pad = input.padTokenId ?? lookup(tc.pad_token);
  // add_bos_token: tokenizer_config's flag, else whether the post-processor puts BOS first.
  const template = isObject(tj.post_processor) && tj.post_processor.type === 'TemplateProcessing' && Array.isArray(tj.post_processor.single) ? tj.post_processor.single : null;
  const specialAt = (x: unknown) => (isObject(x) && isObject(x.SpecialToken) && typeof x.SpecialToken.id === 'string' ? ids.get(x.SpecialToken.id) ?? null : null);
  const addBos = typeof tc.add_bos_token === 'boolean' ? tc.add_bos_token : template !== null && bos !== null && specialAt(template[0]) === bos;
  const addEos = typeof tc.add_eos_token === 'boolean' ? tc.add_eos_token : template !== null && eos !== null && specialAt(template[template.length - 1]) === eos;

  const entries: [string, GgufValue][] = [['tokenizer.ggml.model', gv.str(kind)]];
  if (kind === 'llama') {
    entries.push(['tokenizer.ggml.pre', gv.str('default')]);
    entries.push(['tokenizer.ggml.tokens', gv.strs(tokens)]);
    entries.push(['tokenizer.ggml.scores', gv.f32s(sentencePieceScores(tokens, types, merges, ids))]);
    entries.push(['tokenizer.ggml.token_type', gv.i32s(types)]);
  } else {
    const pre = Object.entries(PRE_TOKENIZERS).find(([, p]) => samePreTokenizer(tj.pre_tokenizer, p))?.[0] ?? 'default';
    entries.push(['tokenizer.ggml.pre', gv.str(pre)]);
    entries.push(['tokenizer.ggml.tokens', gv.strs(tokens)]);
    entries.push(['tokenizer.ggml.token_type', gv.i32s(types)]);
    entries.push(['tokenizer.ggml.merges', gv.strs(merges.map(([l, r]) => `${l} ${r}`))]);
  }
  if (bos !== null) entries.push(['tokenizer.ggml.bos_token_id', gv.u32(bos)]);
  if (eos !== null) entries.push(['tokenizer.ggml.eos_token_id', gv.u32(eos)]);
  if (unk !== null) entries.push(['tokenizer.ggml.unknown_token_id', gv.u32(unk)]);
  if (pad !== null) entries.push(['tokenizer.ggml.padding_token_id', gv.u32(pad)]);
  entries.push(['tokenizer.ggml.add_bos_token', gv.bool(addBos)]);
  entries.push(['tokenizer.ggml.add_eos_token', gv.bool(addEos)]);
  // SentencePiece without the dummy-prefix "▁" (Gemma's tokenizer: a Replace normalizer, no Prepend): llama.cpp
  // prepends a space unless told otherwise, so the flag is written as Gemma3Model.set_vocab does.
  if (kind === 'llama' && !prependsSpace(tj)) entries.push(['tokenizer.ggml.add_space_prefix', gv.bool(false)]);
  if (typeof tc.chat_template === 'string') entries.push(['tokenizer.chat_template', gv.str(tc.chat_template)]);
  return { entries, kind };
}

/** Whether a SentencePiece-style tokenizer.json puts "▁" in front of the text (Prepend, or Metaspace's prepend_scheme). */
function prependsSpace(tj: Json): boolean {
  const any = (p: unknown, test: (x: Json) => boolean): boolean =>
    isObject(p) && (test(p) || [p.normalizers, p.pretokenizers].some((list) => Array.isArray(list) && list.some((q) => any(q, test))));
  return (
    any(tj.normalizer, (x) => x.type === 'Prepend') ||
    any(tj.pre_tokenizer, (x) => x.type === 'Metaspace' && (x.prepend_scheme === undefined ? x.add_prefix_space !== false : x.prepend_scheme !== 'never'))
  );
}

/** SentencePiece-style scores for a BPE vocabulary (see the top of this file). */
function sentencePieceScores(tokens: string[], types: number[], merges: [string, string][], ids: Map<string, number>): number[] {
  const order: number[] = [];
  const placed = new Set<number>();
  for (const [l, r] of merges) {
    const id = ids.get(l + r);
    if (id !== undefined && !placed.has(id) && types[id] === TokenType.NORMAL) {
      placed.add(id);
      order.push(id);
    }
  }
  tokens.forEach((_, id) => {
    if (!placed.has(id) && types[id] === TokenType.NORMAL) order.push(id);
  });
  const scores = new Array<number>(tokens.length).fill(0);
  order.forEach((id, rank) => (scores[id] = -rank));
  return scores;
}
