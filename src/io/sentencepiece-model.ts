// SentencePiece `.model` files (a serialized sentencepiece ModelProto) → SentencePieceVocab. Only what a Hugging
// Face tokenizer needs is read: the pieces (piece, score, type) and trainer_spec's model type, byte fallback and
// unk/bos/eos ids. The normalizer spec is ignored, as transformers' LlamaConverter ignores it.
import type { ByteSource } from './bytes.ts';
import { AlloyError } from '../common/errors.ts';
import { protoFields, WIRE_BYTES, WIRE_FIXED32, WIRE_VARINT } from './protobuf.ts';
import { PIECE_NORMAL, type SentencePieceVocab } from './sentencepiece.ts';

// Field numbers from sentencepiece_model.proto.
const MODEL_PIECES = 1;
const MODEL_TRAINER_SPEC = 2;
const PIECE_PIECE = 1;
const PIECE_SCORE = 2;
const PIECE_TYPE = 3;
const TRAINER_MODEL_TYPE = 3;
const TRAINER_BYTE_FALLBACK = 35;
const TRAINER_UNK_ID = 40;
const TRAINER_BOS_ID = 41;
const TRAINER_EOS_ID = 42;

const MODEL_TYPES: Record<number, string> = { 1: 'Unigram', 2: 'BPE', 3: 'word', 4: 'char' };

/** The parts of a ModelProto Alloy reads, before any check, so a caller can say what it refuses and why. */
export interface SentencePieceModel extends SentencePieceVocab {
  /** trainer_spec.model_type: 1 Unigram, 2 BPE, 3 word, 4 char */
  modelType: number;
  byteFallback: boolean;
}

export function parseSentencePieceModel(buf: Uint8Array, name: string): SentencePieceModel {
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  // proto2 defaults of TrainerSpec
  const spec = { modelType: 1, byteFallback: false, unkId: 0, bosId: 1, eosId: 2 };
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new AlloyError(`${name}: not a SentencePiece model (${what})`, { file: name });
  };
  for (const f of protoFields(buf, `${name}: ModelProto`)) {
    if (f.field === MODEL_PIECES) {
      expect(f.wire === WIRE_BYTES, `pieces field has wire type ${f.wire}`);
      const id = pieces.length;
      let piece: string | null = null;
      let score = 0;
      let type = PIECE_NORMAL;
      for (const p of protoFields(f.bytes, `${name}: piece ${id}`)) {
        if (p.field === PIECE_PIECE && p.wire === WIRE_BYTES) {
          try {
            piece = utf8.decode(p.bytes);
          } catch {
            throw new AlloyError(`${name}: piece ${id} is not valid UTF-8`, { file: name });
          }
        } else if (p.field === PIECE_SCORE && p.wire === WIRE_FIXED32) score = p.float;
        else if (p.field === PIECE_TYPE && p.wire === WIRE_VARINT) type = p.int;
      }
      expect(piece !== null, `piece ${id} has no text`);
      pieces.push(piece!);
      scores.push(score);
      types.push(type);
    } else if (f.field === MODEL_TRAINER_SPEC && f.wire === WIRE_BYTES) {
      for (const t of protoFields(f.bytes, `${name}: trainer_spec`)) {
        if (t.wire !== WIRE_VARINT) continue;
        if (t.field === TRAINER_MODEL_TYPE) spec.modelType = t.int;
        else if (t.field === TRAINER_BYTE_FALLBACK) spec.byteFallback = t.int !== 0;
        else if (t.field === TRAINER_UNK_ID) spec.unkId = t.int;
        else if (t.field === TRAINER_BOS_ID) spec.bosId = t.int;
        else if (t.field === TRAINER_EOS_ID) spec.eosId = t.int;
      }
    }
  }
  expect(pieces.length > 0, 'no pieces');
  return { pieces, scores, types, ...spec };
}

/**
 * Reads a `.model` file as a vocabulary for buildSentencePieceTokenizer. Refuses what the Llama conversion cannot
 * express: Unigram/word/char models, and models without byte fallback, BOS or EOS.
 */
export async function readSentencePieceModel(source: ByteSource): Promise<SentencePieceVocab> {
  const m = parseSentencePieceModel(await source.read(0, source.size), source.name);
  const refuse = (why: string) => new AlloyError(`${source.name}: ${why}`, { file: source.name });
  if (m.modelType !== 2) {
    throw refuse(`a SentencePiece ${MODEL_TYPES[m.modelType] ?? `type-${m.modelType}`} model; only BPE models (Llama's kind) are supported`);
  }
  if (!m.byteFallback) throw refuse('a SentencePiece BPE model without byte fallback; only byte-fallback models (Llama\'s kind) are supported');
  for (const [what, id] of [['unk', m.unkId], ['bos', m.bosId], ['eos', m.eosId]] as const) {
    if (id < 0 || id >= m.pieces.length) throw refuse(`trainer_spec.${what}_id is ${id}; a Llama tokenizer needs unk, bos and eos pieces`);
  }
  return { pieces: m.pieces, scores: m.scores, types: m.types, unkId: m.unkId, bosId: m.bosId, eosId: m.eosId };
}
