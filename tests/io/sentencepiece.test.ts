// SentencePiece vocabularies (llama2.c tok512.bin and the SentencePiece tok512.model of stories260K) turned into a
// Hugging Face tokenizer: both sources give the same files, and the result, loaded by our tokenizer module and by
// transformers.js's AutoTokenizer, encodes llama2.c's own greedy output text back to exactly its token ids.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { bytesSource } from '../../src/io/bytes.ts';
import { fileSource } from '../../src/io/node/fs.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { readLlama2cTokenizer } from '../../src/io/llama2c-tokenizer.ts';
import { parseSentencePieceModel, readSentencePieceModel } from '../../src/io/sentencepiece-model.ts';
import { readSentencePieceVocab } from '../../src/io/tokenizer-sources.ts';
import {
  buildSentencePieceTokenizer,
  sentencePieceMerges,
  sentencePieceSpecialTokensMap,
  type SentencePieceVocab,
} from '../../src/io/sentencepiece.ts';

const MODEL_DIR = resolve(process.cwd(), '../shared/data/models/stories260K');
const TOK_BIN = join(MODEL_DIR, 'tok512.bin');
const TOK_MODEL = join(MODEL_DIR, 'tok512.model');
const REF = join(MODEL_DIR, 'greedy-reference.json');

function requireData(): void {
  for (const p of [TOK_BIN, TOK_MODEL, REF]) {
    if (!existsSync(p)) throw new Error(`missing shared test data ${p}: these tests need ../shared/data (see its README)`);
  }
}

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

/** A model folder holding only the tokenizer files, as the importer writes them. */
async function tokenizerDir(vocab: SentencePieceVocab): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'alloy-spm-'));
  temps.push(dir);
  const { tokenizerJson, tokenizerConfig } = buildSentencePieceTokenizer(vocab);
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  await writeFile(join(dir, 'special_tokens_map.json'), JSON.stringify(sentencePieceSpecialTokensMap(vocab)));
  return dir;
}

beforeAll(() => {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
});

describe('stories260K tokenizer import', () => {
  it('tok512.bin (llama2.c) and tok512.model (SentencePiece) give the same vocabulary and identical files', async () => {
    requireData();
    const fromBin = await readSentencePieceVocab(fileSource(TOK_BIN));
    const fromModel = await readSentencePieceVocab(fileSource(TOK_MODEL));
    expect(fromBin.pieces.length).toBe(512);
    expect(fromBin).toEqual(fromModel);
    expect(fromModel.pieces.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(fromModel.types.slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(JSON.stringify(buildSentencePieceTokenizer(fromBin))).toBe(JSON.stringify(buildSentencePieceTokenizer(fromModel)));
  });

  it('encodes greedy-reference.json text to its ids (BOS first) and decodes them back, ours and transformers.js alike', async () => {
    requireData();
    const ref = JSON.parse(readFileSync(REF, 'utf8')) as { token_ids: number[]; text: string };
    expect(ref.token_ids[0]).toBe(1); // llama2.c starts from BOS, which add_special_tokens adds
    const dir = await tokenizerDir(await readSentencePieceVocab(fileSource(TOK_MODEL)));
    const ours = await loadTokenizer(dirModelFiles(dir));
    // An absolute path is not a hub model id, so transformers.js reads the directory itself.
    const theirs = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });

    expect(ours.encode(ref.text)).toEqual(ref.token_ids);
    expect(theirs.encode(ref.text)).toEqual(ref.token_ids);
    expect(ours.encode(ref.text, { addSpecialTokens: false })).toEqual(ref.token_ids.slice(1));
    expect(ours.decode(ref.token_ids, { skipSpecialTokens: true })).toBe(ref.text);
    expect(theirs.decode(ref.token_ids, { skip_special_tokens: true })).toBe(ref.text);
    // With specials kept, both show the legacy Llama form "<s> Once upon…".
    expect(ours.decode(ref.token_ids)).toBe(theirs.decode(ref.token_ids));
    expect(ours.decode(ref.token_ids)).toBe(`<s> ${ref.text}`);
    expect(ours.bosTokenId).toBe(1);
    expect(ours.eosTokenIds).toEqual([2]);
    expect(ours.vocabSize).toBe(512);

    // Text outside the 512 pieces goes through byte fallback (<0xAB> pieces) and still round-trips.
    for (const text of ['Tom saw a dog.\n\n"Hi!" he said.', 'ünïcödé — 🧬\tdone', '  two  spaces ', 'x']) {
      const ids = theirs.encode(text);
      expect(ours.encode(text)).toEqual(ids);
      expect(ours.decode(ids, { skipSpecialTokens: true })).toBe(theirs.decode(ids, { skip_special_tokens: true }));
      expect(ours.decode(ids, { skipSpecialTokens: true })).toBe(text);
    }
    // "🧬" is not a piece: its four UTF-8 bytes become <0xF0> <0x9F> <0xA7> <0xAC>, ids 3 + byte.
    expect(ours.encode('🧬', { addSpecialTokens: false }).slice(-4)).toEqual([0xf0, 0x9f, 0xa7, 0xac].map((b) => b + 3));
  });

  it('tok512.bin parse: the export\'s spaces and BOS/EOS spellings are undone', async () => {
    requireData();
    const v = await readLlama2cTokenizer(fileSource(TOK_BIN));
    expect(v.pieces[1]).toBe('<s>');
    expect(v.pieces[2]).toBe('</s>');
    expect(v.pieces[259]).toBe('\u2581t'); // "▁t", exported by llama2.c as " t"
    expect(v.pieces.some((p) => p.includes(' '))).toBe(false);
  });
});

describe('merges from scores (transformers generate_merges)', () => {
  const vocab = (pieces: string[], scores: number[]): SentencePieceVocab => ({
    pieces,
    scores,
    types: pieces.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : 1)),
    unkId: 0,
    bosId: 1,
    eosId: 2,
  });

  it('ranks by score, then longer left half, then longer right half; splits ordered by the halves\' ids', () => {
    const v = vocab(['<unk>', '<s>', '</s>', 'a', 'b', 'c', 'ab', 'bc', 'abc', 'ca'], [0, 0, 0, 0, 0, 0, -1, -2, -3, -1]);
    // "abc" splits as a+bc and ab+c (both halves in the vocabulary); same score, so the longer left half first.
    expect(sentencePieceMerges(v)).toEqual([
      ['a', 'b'],
      ['c', 'a'],
      ['b', 'c'],
      ['ab', 'c'],
      ['a', 'bc'],
    ]);
  });

  it('counts lengths in code points, as Python does', () => {
    // "🧬x" is 2 code points but 3 UTF-16 units: counted in units it would jump ahead of "xx" (same score).
    const v = vocab(['<unk>', '<s>', '</s>', '🧬', 'x', 'xx', '🧬x', 'xxx'], [0, 0, 0, 0, 0, -1, -1, -2]);
    expect(sentencePieceMerges(v)).toEqual([
      ['x', 'x'],
      ['🧬', 'x'],
      ['xx', 'x'],
      ['x', 'xx'],
    ]);
  });
});

describe('refusals', () => {
  const good = (): SentencePieceVocab => ({ pieces: ['<unk>', '<s>', '</s>', 'a'], scores: [0, 0, 0, 0], types: [2, 3, 3, 1], unkId: 0, bosId: 1, eosId: 2 });

  it('names a duplicated piece, a bad type, mismatched lengths and ids out of range', () => {
    expect(() => buildSentencePieceTokenizer({ ...good(), pieces: ['<unk>', '<s>', '</s>', '<s>'] })).toThrow('piece "<s>" appears twice (ids 1 and 3)');
    expect(() => buildSentencePieceTokenizer({ ...good(), types: [2, 3, 3, 9] })).toThrow('piece 3 ("a") has unknown type 9');
    expect(() => buildSentencePieceTokenizer({ ...good(), scores: [0, 0, 0] })).toThrow('4 pieces but 3 scores and 4 types');
    expect(() => buildSentencePieceTokenizer({ ...good(), eosId: 4 })).toThrow('eos id 4 is not in [0, 4)');
  });

  it('a truncated tok*.bin is refused naming the token and byte', async () => {
    requireData();
    const bytes = readFileSync(TOK_BIN);
    await expect(readLlama2cTokenizer(bytesSource(bytes.subarray(0, bytes.length - 1), 'tok512.bin'))).rejects.toThrow(
      /tok512\.bin: not a llama2\.c tokenizer \(token 511 at byte \d+: its \d+ bytes run past the end of the file/,
    );
  });

  it('a SentencePiece Unigram model, or one without byte fallback, is refused', async () => {
    requireData();
    const bytes = new Uint8Array(readFileSync(TOK_MODEL));
    expect(parseSentencePieceModel(bytes, 'tok512.model')).toMatchObject({ modelType: 2, byteFallback: true, unkId: 0, bosId: 1, eosId: 2 });
    // Appending fields to the (last) trainer_spec is how protobuf merges: model_type = 1 (Unigram), byte_fallback = 0.
    const withSpec = (spec: number[]) => bytesSource(new Uint8Array([...bytes, 0x12, spec.length, ...spec]), 'tok512.model');
    await expect(readSentencePieceModel(withSpec([0x18, 0x01]))).rejects.toThrow('tok512.model: a SentencePiece Unigram model; only BPE models');
    await expect(readSentencePieceModel(withSpec([0x98, 0x02, 0x00]))).rejects.toThrow('without byte fallback');
    await expect(readSentencePieceModel(bytesSource(bytes.subarray(0, 100), 'cut.model'))).rejects.toThrow('cut.model: ModelProto: malformed protobuf');
    await expect(readSentencePieceVocab(bytesSource(bytes, 'tok.txt'))).rejects.toThrow('tok.txt: unknown tokenizer file');
  });
});
