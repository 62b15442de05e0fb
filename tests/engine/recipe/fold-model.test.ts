// Folding a stage's LoRA for good (fold-model.ts): the adapted tensors come out in the base's own dtype (BF16 stays
// BF16) holding round-to-nearest-even of W + scale·B·A, every other tensor byte for byte, and the base's config and
// tokenizer files copied (not a merge's mergekit_config.yml); written through a sink factory into memory.
import { describe, expect, it, beforeAll } from 'vitest';
import { join } from 'node:path';
import { ensureFixtures } from '../../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { memoryModelFiles, readBytes } from '../../../src/io/model-files.ts';
import { readPeftAdapter } from '../../../src/io/peft.ts';
import { GGML_TYPES_KEY, openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { f32ToGgml } from '../../../src/io/gguf/quant.ts';
import { ggmlTypeByName } from '../../../src/io/gguf/format.ts';
import { dequantize } from '../../../src/io/gguf/dequant.ts';
import type { TensorToWrite } from '../../../src/io/safetensors/writer.ts';
import { decodeToF32, encodeFromF32 } from '../../../src/io/safetensors/dtypes.ts';
import { writeSafetensors } from '../../../src/io/safetensors/writer.ts';
import { foldLoraInto } from '../../../src/engine/lora/fold.ts';
import { writeFoldedModel } from '../../../src/engine/recipe/fold-model.ts';
import { memoryVariantStore, writeOutput } from '../../../src/engine/recipe/variants.ts';
import { mulberry32 } from '../../../src/common/random.ts';
import { BlobSink } from '../../../src/io/bytes.ts';

const HUB = join(import.meta.dirname, '../../../public/hub');
const random = (n: number, seed: number) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.5);
};

beforeAll(async () => {
  await ensureFixtures(HUB);
});

describe('writeFoldedModel', () => {
  it('a quantised base (ggml blocks) folds into F16: the de-quantised weights, plus B·A where adapted', async () => {
    const src = dirModelFiles(join(HUB, 'alloy-fixtures/tiny-llama/resolve/main'), 'tiny-llama');
    const f32 = await openCheckpoint(src);
    // tiny-llama with every matrix stored as Q8_0 blocks, as `alloy import` keeps a Q8_0 GGUF
    const q8 = ggmlTypeByName('Q8_0');
    const tensors: TensorToWrite[] = [];
    const types: Record<string, string> = {};
    for (const name of f32.names()) {
      const info = f32.info(name);
      const x = await f32.readF32(name);
      if (info.shape.length !== 2) tensors.push({ name, dtype: 'F32', shape: info.shape, data: new Uint8Array(x.buffer) });
      else {
        const blocks = f32ToGgml(q8, x);
        tensors.push({ name, dtype: 'U8', shape: [info.shape[0]!, blocks.length / info.shape[0]!], data: blocks });
        types[name] = 'Q8_0';
      }
    }
    const st = new BlobSink();
    await writeSafetensors(st, tensors, { [GGML_TYPES_KEY]: JSON.stringify(types) });
    const base = memoryModelFiles({ 'config.json': await readBytes(src, 'config.json'), 'model.safetensors': new Uint8Array(await st.blob().arrayBuffer()) });
    const ck = await openCheckpoint(base);
    const target = 'model.layers.0.self_attn.q_proj';
    const [out, inn] = ck.info(`${target}.weight`).shape as [number, number];
    const r = 2;
    const a = random(r * inn, 3);
    const b = random(out * r, 4);
    const sink = new BlobSink();
    await writeSafetensors(sink, [
      { name: `base_model.model.${target}.lora_A.weight`, dtype: 'F32', shape: [r, inn], data: new Uint8Array(a.buffer) },
      { name: `base_model.model.${target}.lora_B.weight`, dtype: 'F32', shape: [out, r], data: new Uint8Array(b.buffer) },
    ]);
    const adapter = await readPeftAdapter(
      memoryModelFiles({
        'adapter_config.json': new TextEncoder().encode(JSON.stringify({ peft_type: 'LORA', r, lora_alpha: 4, target_modules: ['q_proj'] })),
        'adapter_model.safetensors': new Uint8Array(await sink.blob().arrayBuffer()),
      }),
    );
    const folded = await writeOutput(memoryVariantStore(), { kind: 'model', name: 'CPT', label: 'q8-CPT' }, (open) => writeFoldedModel(base, adapter, open));
    const got = await openCheckpoint(folded);
    for (const name of ck.names()) {
      const quantised = types[name] !== undefined;
      expect(got.info(name).dtype, name).toBe(quantised ? 'F16' : 'F32');
      expect(got.info(name).ggmlType).toBeUndefined();
      if (!quantised) expect(await got.readRaw(name), name).toEqual(await ck.readRaw(name));
      else if (name !== `${target}.weight`) expect(await got.readRaw(name), name).toEqual(encodeFromF32('F16', dequantize('Q8_0', await ck.readBlocks!(name))));
    }
    const w = dequantize('Q8_0', await ck.readBlocks!(`${target}.weight`));
    expect(await got.readRaw(`${target}.weight`)).toEqual(encodeFromF32('F16', foldLoraInto(w, a, b, out, inn, r, 4 / r)));
  });

  it('a BF16 base stays BF16: adapted tensors are bf16(W + scale·B·A), the rest byte for byte, config and tokenizer copied', async () => {
    const base = dirModelFiles(join(HUB, 'alloy-fixtures/tiny-llama-bf16/resolve/main'), 'tiny-llama-bf16');
    const ck = await openCheckpoint(base);
    const target = 'model.layers.1.self_attn.q_proj';
    const [out, inn] = ck.info(`${target}.weight`).shape as [number, number];
    const r = 4;
    const a = random(r * inn, 1);
    const b = random(out * r, 2);
    const sink = new BlobSink();
    await writeSafetensors(sink, [
      { name: `base_model.model.${target}.lora_A.weight`, dtype: 'F32', shape: [r, inn], data: new Uint8Array(a.buffer) },
      { name: `base_model.model.${target}.lora_B.weight`, dtype: 'F32', shape: [out, r], data: new Uint8Array(b.buffer) },
    ]);
    const adapterFiles = memoryModelFiles({
      'adapter_config.json': new TextEncoder().encode(JSON.stringify({ peft_type: 'LORA', r, lora_alpha: 8, target_modules: ['q_proj'] })),
      'adapter_model.safetensors': new Uint8Array(await sink.blob().arrayBuffer()),
    });
    const adapter = await readPeftAdapter(adapterFiles);
    const store = memoryVariantStore();
    const folded = await writeOutput(store, { kind: 'model', name: 'CPT', label: 'tiny-llama-bf16-CPT' }, (open) => writeFoldedModel(base, adapter, open));
    const got = await openCheckpoint(folded);

    expect(got.names().sort()).toEqual(ck.names().sort());
    for (const name of ck.names()) {
      expect(got.info(name).dtype, name).toBe(ck.info(name).dtype);
      expect(got.info(name).shape).toEqual(ck.info(name).shape);
      if (name === `${target}.weight`) continue;
      expect(await got.readRaw(name), name).toEqual(await ck.readRaw(name));
    }
    const want = encodeFromF32('BF16', foldLoraInto(await ck.readF32(`${target}.weight`), a, b, out, inn, r, 8 / r));
    expect(await got.readRaw(`${target}.weight`)).toEqual(want);
    // the fold moved the weights (a no-op adapter would pass the byte checks above too)
    expect(decodeToF32('BF16', want)).not.toEqual(await ck.readF32(`${target}.weight`));

    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(await readBytes(folded, f), f).toEqual(await readBytes(base, f));
    }
    expect(folded.files.some((f) => f.path === 'mergekit_config.yml' || f.path.startsWith('adapter_'))).toBe(false);
    expect([...store.outputs.keys()]).toEqual(['CPT']);
  }, 60_000);

  it('a failed write commits nothing', async () => {
    const store = memoryVariantStore();
    await expect(
      writeOutput(store, { kind: 'model', name: 'X', label: 'x' }, async (open) => {
        await (await open('config.json')).write(new Uint8Array([1]));
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(store.outputs.size).toBe(0);
  });
});
