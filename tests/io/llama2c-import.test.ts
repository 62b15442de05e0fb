// Importing stories260K with its tokenizer into a folder on disk: the folder appears only when complete (staged in
// a hidden sibling, renamed at the end), a failed import leaves neither folder nor staging folder, and a tokenizer
// whose vocabulary is not the model's is refused before anything is written.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importLlama2c } from '../../src/io/llama2c.ts';
import { importLlama2cFiles } from '../../src/io/node/import-llama2c.ts';
import { writeDirStaged } from '../../src/io/node/staged-dir.ts';
import { fileSource } from '../../src/io/node/fs.ts';
import { readSentencePieceVocab } from '../../src/io/tokenizer-sources.ts';
import { buildSentencePieceTokenizer } from '../../src/io/sentencepiece.ts';
import type { ByteSource } from '../../src/io/bytes.ts';

const MODEL_DIR = resolve(process.cwd(), '../shared/data/models/stories260K');
const BIN = join(MODEL_DIR, 'stories260K.bin');
const TOK_BIN = join(MODEL_DIR, 'tok512.bin');
const TOK_MODEL = join(MODEL_DIR, 'tok512.model');

function requireData(): void {
  for (const p of [BIN, TOK_BIN, TOK_MODEL]) {
    if (!existsSync(p)) throw new Error(`missing shared test data ${p}: these tests need ../shared/data (see its README)`);
  }
}

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'alloy-import-'));
  temps.push(d);
  return d;
}
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

/** Everything in `dir`, hidden entries (a staging folder) included. */
const entries = (dir: string) => readdirSync(dir).sort();

describe('llama2.c import with tokenizer, published all at once', () => {
  it('writes config, generation config, tokenizer files and weights; the same folder from tok512.bin and tok512.model', async () => {
    requireData();
    const dir = await tempDir();
    const a = join(dir, 'from-bin');
    const b = join(dir, 'from-model');
    const r = await importLlama2cFiles(BIN, a, TOK_BIN);
    await importLlama2cFiles(BIN, b, TOK_MODEL);
    expect(entries(dir)).toEqual(['from-bin', 'from-model']); // no staging folder left
    const files = ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];
    expect(entries(a)).toEqual(files);
    expect([...r.files].sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f).toBe(true);

    const vocab = await readSentencePieceVocab(fileSource(TOK_MODEL));
    expect(JSON.parse(readFileSync(join(a, 'tokenizer.json'), 'utf8'))).toEqual(buildSentencePieceTokenizer(vocab).tokenizerJson);
    const cfg = JSON.parse(readFileSync(join(a, 'tokenizer_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true, model_max_length: 512 });
    expect(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8'))).toMatchObject({ vocab_size: 512, bos_token_id: 1, eos_token_id: 2 });
  });

  it('a truncated checkpoint leaves no output folder and no staging folder', async () => {
    requireData();
    const dir = await tempDir();
    const cut = join(dir, 'truncated.bin');
    await copyFile(BIN, cut);
    const size = fileSource(BIN).size;
    await truncate(cut, size - 4);
    const out = join(dir, 'out');
    await expect(importLlama2cFiles(cut, out, TOK_BIN)).rejects.toThrow(`expected ${size} bytes, actual ${size - 4} bytes`);
    expect(entries(dir)).toEqual(['truncated.bin']);
  });

  it('a read failing halfway through the weights removes the staged files', async () => {
    requireData();
    const dir = await tempDir();
    const out = join(dir, 'out');
    const real = fileSource(BIN);
    // Fails like a file cut off (or a disk error) after config.json, tokenizer files and some tensors are written.
    let reads = 0;
    const failing: ByteSource = {
      name: real.name,
      size: real.size,
      read: (offset, length) => (++reads > 20 ? Promise.reject(new Error('stories260K.bin: read failed')) : real.read(offset, length)),
    };
    const vocab = await readSentencePieceVocab(fileSource(TOK_BIN));
    let staged: string[] = [];
    await expect(
      writeDirStaged(out, async (sinkFor) => {
        try {
          return await importLlama2c(failing, sinkFor, { tokenizer: { vocab, name: 'tok512.bin' } });
        } finally {
          const tmp = entries(dir).find((e) => e.startsWith('.out.alloy-partial-'));
          staged = tmp ? entries(join(dir, tmp)) : [];
        }
      }),
    ).rejects.toThrow('read failed');
    expect(staged).toContain('tokenizer.json'); // files were written before the failure…
    expect(entries(dir)).toEqual([]); // …and none is left, nor the folder
  });

  it('refuses a tokenizer whose vocabulary size differs from the model, writing nothing', async () => {
    requireData();
    const dir = await tempDir();
    // tok512.bin cut after its first 300 tokens: a valid llama2.c tokenizer of another vocabulary size.
    const bytes = readFileSync(TOK_BIN);
    let pos = 4;
    for (let i = 0; i < 300; i++) pos += 8 + bytes.readInt32LE(pos + 4);
    const small = join(dir, 'tok300.bin');
    await writeFile(small, bytes.subarray(0, pos));
    const out = join(dir, 'out');
    await expect(importLlama2cFiles(BIN, out, small)).rejects.toThrow(
      'tok300.bin has 300 tokens but stories260K.bin was trained with a vocabulary of 512; pass the tokenizer this model was trained with',
    );
    expect(entries(dir)).toEqual(['tok300.bin']);
  });

  it('never writes into a non-empty folder', async () => {
    requireData();
    const dir = await tempDir();
    const out = join(dir, 'out');
    await mkdir(out);
    await writeFile(join(out, 'keep.txt'), 'mine');
    await expect(importLlama2cFiles(BIN, out, TOK_BIN)).rejects.toThrow(`${out} exists and is not empty`);
    expect(entries(out)).toEqual(['keep.txt']);
    expect(entries(dir)).toEqual(['out']);
  });
});
