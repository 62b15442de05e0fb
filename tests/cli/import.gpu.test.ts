// The whole path a user takes with a llama2.c model: `alloy import` (weights + tok512.model) then `alloy generate`
// on the folder. Greedy decoding from a prompt that is a prefix of llama2.c's own greedy output must continue it
// word for word, which checks the tokenizer (prompt → llama2.c's ids, ids → text) and the weights together.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';

const MODEL_DIR = resolve(process.cwd(), '../shared/data/models/stories260K');
const BIN = join(MODEL_DIR, 'stories260K.bin');
const TOK = join(MODEL_DIR, 'tok512.model');
const REF = join(MODEL_DIR, 'greedy-reference.json');

const tmp = mkdtempSync(join(tmpdir(), 'alloy-import-gpu-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy import → alloy generate (stories260K)', () => {
  it('continues a prefix of the llama2.c greedy reference exactly as llama2.c did', async () => {
    for (const p of [BIN, TOK, REF]) if (!existsSync(p)) throw new Error(`missing shared test data ${p} (see ../shared/data/README.md)`);
    const ref = JSON.parse(readFileSync(REF, 'utf8')) as { text: string };
    const out = join(tmp, 'stories260K');
    const imp = capture();
    expect(await main(['import', BIN, '--tokenizer', TOK, '--out', out], imp), imp.stderr).toBe(0);

    const prompt = 'Once upon a time, there was a little girl named Lily.';
    expect(ref.text.startsWith(prompt)).toBe(true);
    const io = capture();
    expect(await main(['generate', '--model', out, '--prompt', prompt, '--max-tokens', '48'], io), io.stderr).toBe(0);
    // The continuation is decoded on its own, so its first "▁" is stripped like a leading space.
    const got = io.stdout.trimEnd();
    expect(got.length).toBeGreaterThan(100);
    expect(ref.text.slice(prompt.length).trimStart().startsWith(got)).toBe(true);
  });
});
