// The studio's real demo model: karpathy's stories260K (llama2.c tinyllamas) imported into a Hugging Face folder,
// committed at public/demo/stories260K so the site serves it offline. `npm run demo-model` rebuilds it from
// ../shared/data; tests/scripts/demo-model.test.ts checks the committed folder equals a fresh import.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importLlama2c } from '../../src/io/llama2c.ts';
import { fileSource } from '../../src/io/node/fs.ts';
import { writeDirStaged } from '../../src/io/node/staged-dir.ts';
import { readSentencePieceVocab } from '../../src/io/tokenizer-sources.ts';

export const DEMO_DIR = fileURLToPath(new URL('../../public/demo/stories260K', import.meta.url));
/** Where the fixtures script publishes it in the hub layout (public/hub/<id>/resolve/main/…). */
export const DEMO_REPO_ID = 'alloy-demo/stories260K';
export const DEFAULT_DATA = fileURLToPath(new URL('../../../shared/data/models/stories260K', import.meta.url));

const WEIGHTS = 'stories260K.bin';
/** The SentencePiece original; tok512.bin (llama2.c's export of it) gives identical files (tests/io). */
const TOKENIZER = 'tok512.model';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Writes the demo folder to `out` (must not exist or be empty), all at once. */
export async function writeDemoModel(dataDir: string, out: string): Promise<string[]> {
  const bin = join(dataDir, WEIGHTS);
  const tok = join(dataDir, TOKENIZER);
  for (const p of [bin, tok]) {
    if (!existsSync(p)) throw new Error(`missing ${p}: the demo model is built from ../shared/data (see its README)`);
  }
  const source = fileSource(bin);
  const tokSource = fileSource(tok);
  const vocab = await readSentencePieceVocab(tokSource);
  const card = modelCard({ [WEIGHTS]: sha256(bin), [TOKENIZER]: sha256(tok) });
  return writeDirStaged(out, async (sinkFor) => {
    const r = await importLlama2c(source, sinkFor, { tokenizer: { vocab, name: tokSource.name } });
    const sink = await sinkFor('README.md');
    await sink.write(new TextEncoder().encode(card));
    await sink.close();
    return [...r.files, 'README.md'].sort();
  });
}

/** Rebuilds `out` in place: the new folder is complete before the old one is replaced. */
export async function rebuildDemoModel(dataDir: string = DEFAULT_DATA, out: string = DEMO_DIR): Promise<string[]> {
  const next = `${out}.new-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  const files = await writeDemoModel(dataDir, next);
  rmSync(out, { recursive: true, force: true });
  renameSync(next, out);
  return files;
}

function modelCard(sha: Record<string, string>): string {
  return `---
license: mit
library_name: transformers
pipeline_tag: text-generation
tags:
- llama
- llama2.c
- tinystories
- alloy-demo
---

# stories260K (Alloy's demo model)

A real pretrained Llama with 260K parameters (dim 64, MLP 172, 5 layers, 8 query / 4 key-value heads, vocabulary
512, context 512, tied embeddings), trained on TinyStories by Andrej Karpathy for
[llama2.c](https://github.com/karpathy/llama2.c) and published with the other
[tinyllamas](https://huggingface.co/karpathy/tinyllamas/tree/main/stories260K). It writes short children's stories
("Once upon a time, there was a little girl named Lily…"); it has no chat template, so use it for plain-text
continuation.

## Provenance

| source file | sha256 |
|---|---|
| ${WEIGHTS} (llama2.c legacy checkpoint, fp32; the published file) | \`${sha[WEIGHTS]}\` |
| ${TOKENIZER} (its 512-piece SentencePiece BPE, byte fallback) | \`${sha[TOKENIZER]}\` |

## How it was converted

By Alloy's own importer, \`npm run demo-model\` (scripts/demo-model.ts), which does what
\`alloy import ${WEIGHTS} --tokenizer ${TOKENIZER} --out DIR\` does:
- **weights** → \`model.safetensors\` (F32, unchanged values). llama2.c rotates interleaved RoPE pairs (2j, 2j+1),
  Hugging Face Llama rotates (j, j + head_dim/2), so the rows of every q_proj/k_proj are permuted per head as
  transformers' convert_llama_weights_to_hf does; llama2.c's RoPE tables are dropped (recomputed from rope_theta
  10000). \`config.json\` is a LlamaForCausalLM config with rms_norm_eps 1e-5.
- **tokenizer** → \`tokenizer.json\`, \`tokenizer_config.json\`, \`special_tokens_map.json\` equivalent to
  transformers' LlamaConverter (legacy): BPE with byte fallback, merges derived from the piece scores, "▁"
  normalizer, BOS added by the post-processor.

Checked in Alloy's tests: greedy decoding from BOS reproduces llama2.c's own 200-token greedy output token for
token (tests/io/llama2c.gpu.test.ts); the tokenizer encodes that output's text back to exactly llama2.c's ids, in
Alloy and in transformers.js (tests/io/sentencepiece.test.ts); this folder equals a fresh import
(tests/scripts/demo-model.test.ts).

## Licence

llama2.c and its tinyllamas are MIT-licensed:

\`\`\`
${MIT}\`\`\`
`;
}

const MIT = `MIT License

Copyright (c) 2023 Andrej

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;
