// Importing a PEFT adapter (src/worker/adapter-import.ts): what an upload may be (a folder, the two files, a stored
// or deflated .zip), each refusal naming the file, the tensor and both shapes, and the numerics: the adapter as the
// studio stores it (a checkpoint blob) and exports it again folds into exactly the weights that the CLI's
// `--adapter` path (io/peft.ts + lora/fold.ts on the original files) gives, bit for bit, so logits agree too.
import { deflateRawSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures } from '../../scripts/fixtures/index.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/config.ts';
import { bytesSource } from '../../src/io/bytes.ts';
import { memoryModelFiles, readJson } from '../../src/io/model-files.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readPeftAdapter } from '../../src/io/peft.ts';
import { openCheckpoint, type Checkpoint } from '../../src/io/safetensors/checkpoint.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { crc32, zipStore } from '../../src/io/zip.ts';
import { withAdapter } from '../../src/engine/lora/fold.ts';
import { encodeImportedAdapter } from '../../src/engine/train/checkpoint.ts';
import { uploadedAdapterFiles, validateAdapter, type AdapterBase, type AdapterUpload } from '../../src/worker/adapter-import.ts';
import { peftFilesOf } from '../../src/worker/train.ts';
import { peftAdapter, type PeftFiles, type PeftSpec } from '../helpers/peft-adapter.ts';

const MODEL = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const Q0 = 'model.layers.0.self_attn.q_proj';
const V1 = 'model.layers.1.self_attn.v_proj';
const DOWN1 = 'model.layers.1.mlp.down_proj';
let cfg: ModelConfig;
let ckpt: Checkpoint;
let target: AdapterBase;

beforeAll(async () => {
  await ensureFixtures();
  const files = dirModelFiles(MODEL);
  cfg = parseModelConfig(await readJson(files, 'config.json'));
  ckpt = await openCheckpoint(files);
  target = { label: 'alloy-fixtures/tiny-llama@main', repo: 'alloy-fixtures/tiny-llama', config: cfg, checkpoint: ckpt };
});

const spec = (s: Partial<PeftSpec> = {}): PeftSpec => ({ r: 4, alpha: 8, modules: [Q0, V1, DOWN1], ...s });
const asUploads = (f: Partial<PeftFiles> & Record<string, Uint8Array>, folder = 'my-adapter'): AdapterUpload[] =>
  Object.entries(f).map(([n, b]) => ({ path: folder ? `${folder}/${n}` : n, blob: new Blob([b as Uint8Array<ArrayBuffer>]) }));
async function check(s: Partial<PeftSpec> = {}, drop: string[] = []) {
  const f: Record<string, Uint8Array> = { ...(await peftAdapter(cfg, spec(s))) };
  for (const d of drop) delete f[d];
  return validateAdapter(await uploadedAdapterFiles('my-adapter', asUploads(f)), target);
}

/** A zip with deflated entries, as an operating system's "compress" writes it (the Export panel stores). */
function deflatedZip(entries: Record<string, Uint8Array>): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let at = 0;
  for (const [name, data] of Object.entries(entries)) {
    const n = Buffer.from(name);
    const packed = deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(8, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(packed.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(n.length, 28);
    cd.writeUInt32LE(at, 42);
    parts.push(local, n, packed);
    central.push(cd, n);
    at += 30 + n.length + packed.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(at, 16);
  return new Uint8Array(Buffer.concat([...parts, cdBytes, end]));
}

describe('uploads', () => {
  it('takes a folder, the two loose files, a stored .zip and a deflated .zip alike', async () => {
    const f = await peftAdapter(cfg, spec());
    const forms: AdapterUpload[][] = [
      asUploads({ ...f, 'README.md': new Uint8Array([35]) }),
      asUploads(f, ''),
      [{ path: 'a.zip', blob: new Blob([zipStore(Object.entries(f).map(([name, data]) => ({ name, data })))]) }],
      [{ path: 'a.zip', blob: new Blob([deflatedZip(Object.fromEntries(Object.entries(f).map(([n, d]) => [`my-adapter/${n}`, d]))) as Uint8Array<ArrayBuffer>]) }],
    ];
    for (const form of forms) {
      const v = await validateAdapter(await uploadedAdapterFiles('a', form), target);
      expect(v.targets).toEqual(['q_proj', 'v_proj', 'down_proj']);
      expect(v.modules).toBe(3);
      expect(v.configText).toBe(new TextDecoder().decode(f['adapter_config.json']));
    }
  });

  it('names what is missing or ambiguous', async () => {
    const f = await peftAdapter(cfg, spec());
    await expect(check({}, ['adapter_model.safetensors'])).rejects.toThrow(/my-adapter: no adapter_model\.safetensors$/);
    await expect(check({}, ['adapter_config.json'])).rejects.toThrow(/no adapter_config\.json \(not a PEFT adapter folder\)/);
    const pickle = asUploads({ 'adapter_config.json': f['adapter_config.json'], 'adapter_model.bin': new Uint8Array(8) });
    await expect(validateAdapter(await uploadedAdapterFiles('p', pickle), target)).rejects.toThrow(/adapter_model\.bin is a pickle file/);
    const two = [...asUploads(f, 'run/checkpoint-100'), ...asUploads(f, 'run/checkpoint-200')];
    await expect(uploadedAdapterFiles('run', two)).rejects.toThrow(/more than one adapter_config\.json \(run\/checkpoint-100\/adapter_config\.json, run\/checkpoint-200\/adapter_config\.json\)/);
    const model = asUploads({ 'config.json': new Uint8Array(2), 'model.safetensors': new Uint8Array(8) });
    await expect(uploadedAdapterFiles('m', model)).rejects.toThrow(/m is a model folder .* not a PEFT adapter/);
    await expect(uploadedAdapterFiles('z', [{ path: 'z.zip', blob: new Blob([new Uint8Array(40)]) }])).rejects.toThrow(/z\.zip: zip: no end of central directory/);
    await expect(uploadedAdapterFiles('z', [{ path: 'z.zip', blob: new Blob([new Uint8Array(4)]) }, ...asUploads(f)])).rejects.toThrow(/import it on its own/);
  });
});

describe('validation against the base model', () => {
  it('accepts F32 and BF16 adapters, keeps their bytes, and says when the config names another base', async () => {
    const v = await check({ dtype: 'BF16', config: { base_model_name_or_path: 'someone/else' } });
    expect(v.dtypes).toEqual(['BF16']);
    expect(v.tensors.map((t) => t.name)).toEqual([...v.tensors.map((t) => t.name)].sort());
    expect(v.tensors).toHaveLength(6);
    expect(v.warnings.join(' ')).toMatch(/names the base model someone\/else; it was checked against alloy-fixtures\/tiny-llama@main/);
    expect((await check()).warnings).toEqual([]);
  });

  it('refuses a shape that does not fit, naming the tensor and both shapes', async () => {
    const a = `base_model.model.${Q0}.lora_A.weight`;
    await expect(check({ shapes: { [a]: [4, 32] } })).rejects.toThrow(
      `adapter_model.safetensors: "${a}" is [4, 32], but alloy-fixtures/tiny-llama@main's "${Q0}.weight" is [64, 64]: lora_A must be [4, 64]`,
    );
    const b = `base_model.model.${DOWN1}.lora_B.weight`;
    await expect(check({ shapes: { [b]: [32, 4] } })).rejects.toThrow(`"${b}" is [32, 4], but alloy-fixtures/tiny-llama@main's "${DOWN1}.weight" is [64, 128]: lora_B must be [64, 4]`);
    await expect(check({ config: { r: 8 } })).rejects.toThrow(`"base_model.model.${Q0}.lora_A.weight" is [4, 64], but adapter_config.json says r = 8`);
  });

  it('refuses unknown target modules, other layers, non-LoRA tensors, broken values and what PEFT would apply but a fold would drop', async () => {
    await expect(check({ config: { target_modules: ['q_proj', 'c_attn'] } })).rejects.toThrow(/target module "c_attn" is not a projection of llama that Alloy adapts/);
    const qkv = (h: 'A' | 'B') => ({ name: `base_model.model.model.layers.0.self_attn.qkv_proj.lora_${h}.weight`, dtype: 'F32' as const, shape: [4, 4], data: new Uint8Array(64) });
    await expect(check({ extra: [qkv('A'), qkv('B')], config: { target_modules: '.*_proj' } })).rejects.toThrow(
      /"base_model\.model\.model\.layers\.0\.self_attn\.qkv_proj\.lora_A\.weight" adapts model\.layers\.0\.self_attn\.qkv_proj, which is not a module Alloy adapts/,
    );
    await expect(check({ modules: [Q0, 'model.layers.5.self_attn.q_proj'], config: { target_modules: ['q_proj'] } })).rejects.toThrow(
      /adapts layer 5, but alloy-fixtures\/tiny-llama@main has 2 layers \(0–1\)/,
    );
    const extra = { name: 'base_model.model.lm_head.weight', dtype: 'F32' as const, shape: [1], data: new Uint8Array(4) };
    await expect(check({ extra: [extra] })).rejects.toThrow(/tensor "base_model\.model\.lm_head\.weight" is not a LoRA weight/);
    const head = { name: 'base_model.model.lm_head.lora_A.weight', dtype: 'F32' as const, shape: [4, 64], data: new Uint8Array(4 * 256) };
    const headB = { name: 'base_model.model.lm_head.lora_B.weight', dtype: 'F32' as const, shape: [384, 4], data: new Uint8Array(4 * 1536) };
    await expect(check({ extra: [head, headB] })).rejects.toThrow(/adapts lm_head, which is not a module Alloy adapts/);
    await expect(check({ poison: { tensor: `base_model.model.${V1}.lora_B.weight`, value: NaN } })).rejects.toThrow(`"base_model.model.${V1}.lora_B.weight" holds NaN at element 1`);
    await expect(check({ config: { rank_pattern: { q_proj: 2 } } })).rejects.toThrow(/"rank_pattern" \(per-module ranks or alphas\) is not supported/);
    await expect(check({ config: { modules_to_save: ['lm_head'] } })).rejects.toThrow(/modules_to_save/);
    await expect(check({ config: { bias: 'lora_only' } })).rejects.toThrow(/bias "lora_only"/);
    await expect(check({ config: { use_dora: true } })).rejects.toThrow(/DoRA/);
  });
});

describe('numerics: stored and exported again, it folds into the CLI path weights bit for bit', () => {
  for (const dtype of ['F32', 'BF16'] as const) {
    it(`${dtype} adapter, rsLoRA`, async () => {
      const f = await peftAdapter(cfg, spec({ dtype, config: { use_rslora: true } }));
      const v = await validateAdapter(await uploadedAdapterFiles('a', asUploads(f)), target);
      const blob = await encodeImportedAdapter(v.tensors, { r: 4, alpha: 8, useRslora: true, targets: v.targets, dropout: 0 }, v.configText);
      const out = await peftFilesOf(bytesSource(new Uint8Array(await blob.arrayBuffer()), 'checkpoint-0'), 'alloy-fixtures/tiny-llama', 0);
      // the config goes out as it came; every tensor's bytes too
      expect(Buffer.from(out.config).equals(Buffer.from(f['adapter_config.json']))).toBe(true);
      const [was, now] = await Promise.all([f['adapter_model.safetensors'], out.weights].map((b) => openSafetensors(bytesSource(b, 'w'))));
      expect([...now!.tensors.keys()].sort()).toEqual([...was!.tensors.keys()].sort());
      for (const name of was!.tensors.keys()) {
        expect(now!.tensors.get(name)!.dtype).toBe(dtype);
        expect(Buffer.from(await now!.readRaw(name)).equals(Buffer.from(await was!.readRaw(name))), name).toBe(true);
      }
      // folded: the studio's path (exported files) against the CLI's (the original files)
      const cli = withAdapter(ckpt, await readPeftAdapter(memoryModelFiles(f, 'cli')));
      const studio = withAdapter(ckpt, await readPeftAdapter(memoryModelFiles({ 'adapter_config.json': out.config, 'adapter_model.safetensors': out.weights }, 'studio')));
      let changed = 0;
      for (const name of ckpt.names()) {
        const [x, y, w] = await Promise.all([cli.readF32(name), studio.readF32(name), ckpt.readF32(name)]);
        expect(Buffer.from(y.buffer).equals(Buffer.from(x.buffer)), name).toBe(true);
        if (!Buffer.from(x.buffer).equals(Buffer.from(w.buffer))) changed++;
      }
      expect(changed).toBe(3);
    });
  }
});
