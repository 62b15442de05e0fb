// `alloy import FILE.bin [--tokenizer …] --out DIR` through main(): stories260K with either tokenizer file, the
// refusals (unknown extension, missing file, vocabulary mismatch, missing --out) each one line, exit 1, nothing
// written. GGUF files are the GGUF importer's (src/io/gguf), tested with it.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';

const MODEL_DIR = resolve(process.cwd(), '../shared/data/models/stories260K');
const BIN = join(MODEL_DIR, 'stories260K.bin');
const TOK_BIN = join(MODEL_DIR, 'tok512.bin');
const TOK_MODEL = join(MODEL_DIR, 'tok512.model');

function requireData(): void {
  for (const p of [BIN, TOK_BIN, TOK_MODEL]) {
    if (!existsSync(p)) throw new Error(`missing shared test data ${p}: these tests need ../shared/data (see its README)`);
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'alloy-cli-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy import', () => {
  it('imports stories260K with tok512.bin or tok512.model into a Hugging Face folder', async () => {
    requireData();
    for (const tok of [TOK_BIN, TOK_MODEL]) {
      const out = join(tmp, `stories-${tok.endsWith('.bin') ? 'bin' : 'model'}`);
      const io = capture();
      expect(await main(['import', BIN, '--tokenizer', tok, '--out', out], io), io.stderr).toBe(0);
      expect(io.stdout).toContain('llama2.c: dim 64, 5 layers, 8/4 heads, vocab 512, tied head');
      expect(io.stderr).toBe('');
      expect(readdirSync(out).sort()).toEqual([
        'config.json',
        'generation_config.json',
        'model.safetensors',
        'special_tokens_map.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
    }
  });

  it('without --tokenizer writes weights and config and says the tokenizer is missing', async () => {
    requireData();
    const out = join(tmp, 'no-tok');
    const io = capture();
    expect(await main(['import', BIN, '--out', out], io)).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(io.stderr).toContain('has no tokenizer.json');
  });

  it('refuses unknown formats, missing files and a wrong tokenizer, writing nothing', async () => {
    requireData();
    const dir = mkdtempSync(join(tmp, 'refuse-'));
    const pt = join(dir, 'model.pt');
    writeFileSync(pt, 'PK');
    const small = join(dir, 'tok3.bin');
    // max_token_length 8, then <unk> <s> </s> as llama2.c's export writes them: a 3-token vocabulary
    const enc = new TextEncoder();
    const parts: number[] = [8, 0, 0, 0];
    for (const t of ['<unk>', '\n<s>\n', '\n</s>\n']) parts.push(0, 0, 0, 0, enc.encode(t).length, 0, 0, 0, ...enc.encode(t));
    writeFileSync(small, new Uint8Array(parts));
    const out = join(dir, 'out');
    const cases: [string[], string][] = [
      [['import', pt, '--out', out], `alloy: ${pt}: unknown checkpoint format ".pt"`],
      [['import', join(dir, 'missing.bin'), '--out', out], 'missing.bin does not exist'],
      [['import', small, '--out', out], 'tok3.bin: not a llama2.c checkpoint'],
      [['import', BIN, '--tokenizer', small, '--out', out], 'tok3.bin has 3 tokens but stories260K.bin was trained with a vocabulary of 512'],
      [['import', BIN, '--tokenizer', TOK_BIN], '--out is required'],
      [['import', '--out', out], 'import takes one checkpoint file'],
    ];
    for (const [argv, message] of cases) {
      const io = capture();
      expect(await main(argv, io), argv.join(' ')).toBe(1);
      expect(io.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(io.stderr).toContain(message);
    }
    expect(readdirSync(dir).sort()).toEqual(['model.pt', 'tok3.bin']);
  });

  it('is in the usage text', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.stdout).toContain('alloy import   FILE.bin|FILE.gguf [--tokenizer tok.bin|tok.model] [--dequantize f16|bf16|f32] --out DIR');
  });
});
