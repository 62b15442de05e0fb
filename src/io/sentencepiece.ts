// A SentencePiece BPE vocabulary (pieces, scores, piece types) as a Hugging Face fast tokenizer: tokenizer.json +
// tokenizer_config.json, the same files transformers' LlamaConverter (convert_slow_tokenizer.py, legacy Llama
// behaviour) writes for a Llama SentencePiece model with byte fallback. Sources: llama2.c tok*.bin, SentencePiece
// .model files, GGUF's tokenizer.ggml.* arrays; each reader turns its format into a SentencePieceVocab.
//
// Why merges are derived and not stored: SentencePiece BPE keeps no merge list, only one score per piece (the
// negated merge rank). The converter rebuilds merges from the scores (`generate_merges`): every split of a piece
// into two pieces that are both in the vocabulary is a merge, ranked by the piece's score. Reproducing that
// exactly, down to its tie-breaks, is what makes our tokenizer.json equal to transformers'.
import { AlloyError } from '../common/errors.ts';

/** SentencePiece piece types, numbered as sentencepiece's ModelProto and GGUF's tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
export interface SentencePieceVocab {
  pieces: string[];
  scores: number[];
  types: number[];
  unkId: number;
  bosId: number;
  eosId: number;
}

export const PIECE_NORMAL = 1;
export const PIECE_UNKNOWN = 2;
export const PIECE_CONTROL = 3;
export const PIECE_USER_DEFINED = 4;
export const PIECE_UNUSED = 5;
export const PIECE_BYTE = 6;

/** SentencePiece's whitespace marker, U+2581. */
export const SPACE_MARKER = '\u2581';

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/** The type a piece has in a SentencePiece model when the source stores no types (llama2.c's tok*.bin). */
export function inferPieceType(piece: string, id: number, ids: { unkId: number; bosId: number; eosId: number }): number {
  if (id === ids.unkId) return PIECE_UNKNOWN;
  if (id === ids.bosId || id === ids.eosId) return PIECE_CONTROL;
  if (BYTE_PIECE.test(piece)) return PIECE_BYTE;
  return PIECE_NORMAL;
}

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export function buildSentencePieceTokenizer(vocab: SentencePieceVocab): {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
} {
  const ids = checkVocab(vocab);
  const { pieces, unkId, bosId, eosId } = vocab;
  const unk = pieces[unkId]!;
  const bos = pieces[bosId]!;
  const eos = pieces[eosId]!;

  // SpmConverter: control pieces are special added tokens, user-defined pieces are added but not special; the
  // slow tokenizer's added tokens (its unk) come on top. None is normalized (matched before the normalizer runs).
  const added: AddedToken[] = [];
  vocab.types.forEach((type, id) => {
    if (type === PIECE_CONTROL || type === PIECE_USER_DEFINED || id === unkId) {
      const special = type !== PIECE_USER_DEFINED || id === unkId;
      added.push({ id, content: pieces[id]!, single_word: false, lstrip: false, rstrip: false, normalized: false, special });
    }
  });

  const tokenizerJson: Record<string, unknown> = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    // Legacy Llama: a "▁" before the text and every space turned into "▁"; no pre-tokenizer, so the whole text is
    // one word for BPE (SentencePiece splits nothing either).
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPACE_MARKER },
        { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARKER },
      ],
    },
    pre_tokenizer: null,
    // LlamaTokenizerFast.update_post_processor with add_bos_token true, add_eos_token false.
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE_MARKER }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      // Object.fromEntries defines own properties, so a piece such as "__proto__" is kept as a key like any other.
      vocab: Object.fromEntries(ids),
      merges: sentencePieceMerges(vocab, ids),
    },
  };

  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...t }) => [String(id), t])),
    bos_token: bos,
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    legacy: true,
    pad_token: null,
    sp_model_kwargs: {},
    spaces_between_special_tokens: false,
    tokenizer_class: 'LlamaTokenizer',
    unk_token: unk,
    use_default_system_prompt: false,
  };
  return { tokenizerJson, tokenizerConfig };
}

/** The special_tokens_map.json transformers saves beside a Llama tokenizer (older loaders read specials from it). */
export function sentencePieceSpecialTokensMap(vocab: SentencePieceVocab): Record<string, unknown> {
  const token = (content: string) => ({ content, lstrip: false, normalized: false, rstrip: false, single_word: false });
  return { bos_token: token(vocab.pieces[vocab.bosId]!), eos_token: token(vocab.pieces[vocab.eosId]!), unk_token: token(vocab.pieces[vocab.unkId]!) };
}

/** Validates the vocabulary and returns piece → id. */
function checkVocab(v: SentencePieceVocab): Map<string, number> {
  const n = v.pieces.length;
  if (n === 0) throw new AlloyError('SentencePiece vocabulary is empty');
  if (v.scores.length !== n || v.types.length !== n) {
    throw new AlloyError(`SentencePiece vocabulary: ${n} pieces but ${v.scores.length} scores and ${v.types.length} types`);
  }
  for (const [name, id] of [['unk', v.unkId], ['bos', v.bosId], ['eos', v.eosId]] as const) {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new AlloyError(`SentencePiece vocabulary: ${name} id ${id} is not in [0, ${n})`);
  }
  const ids = new Map<string, number>();
  v.pieces.forEach((piece, id) => {
    if (piece === '') throw new AlloyError(`SentencePiece vocabulary: piece ${id} is empty`);
    const first = ids.get(piece);
    if (first !== undefined) throw new AlloyError(`SentencePiece vocabulary: piece "${piece}" appears twice (ids ${first} and ${id})`);
    const type = v.types[id]!;
    if (!(Number.isInteger(type) && type >= PIECE_NORMAL && type <= PIECE_BYTE)) {
      throw new AlloyError(`SentencePiece vocabulary: piece ${id} ("${piece}") has unknown type ${type}`);
    }
    if (!Number.isFinite(v.scores[id]!)) throw new AlloyError(`SentencePiece vocabulary: piece ${id} ("${piece}") has score ${v.scores[id]}`);
    ids.set(piece, id);
  });
  return ids;
}

/**
 * transformers' generate_merges(vocab, vocab_scores): for each piece in id order, every split into two pieces of the
 * vocabulary (ordered by the halves' ids), then all of them sorted stably by (score, left length, right length)
 * descending. Lengths are in code points, as Python counts them. LlamaConverter scores the first three pieces
 * (unk, bos, eos in every Llama model) 0; we zero unk/bos/eos by id, which is the same for Llama and right for
 * vocabularies that put them elsewhere.
 */
export function sentencePieceMerges(v: SentencePieceVocab, ids: Map<string, number> = checkVocab(v)): [string, string][] {
  const merges: { l: string; r: string; score: number; lenL: number; lenR: number }[] = [];
  v.pieces.forEach((piece, id) => {
    const score = id === v.unkId || id === v.bosId || id === v.eosId ? 0 : v.scores[id]!;
    const chars = Array.from(piece);
    const local: { l: string; r: string; il: number; ir: number; lenL: number; lenR: number }[] = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join('');
      const r = chars.slice(i).join('');
      const il = ids.get(l);
      const ir = ids.get(r);
      if (il !== undefined && ir !== undefined) local.push({ l, r, il, ir, lenL: i, lenR: chars.length - i });
    }
    local.sort((a, b) => a.il - b.il || a.ir - b.ir);
    for (const m of local) merges.push({ l: m.l, r: m.r, score, lenL: m.lenL, lenR: m.lenR });
  });
  // Array.prototype.sort is stable, like Python's sorted(reverse=True): equal keys keep their order.
  merges.sort((a, b) => b.score - a.score || b.lenL - a.lenL || b.lenR - a.lenR);
  return merges.map((m) => [m.l, m.r]);
}
