// `alloy merge CONFIG.yaml --out DIR` end to end on the CPU (tiny tensors stay below the GPU threshold of
// --device auto): fixture tiny-llama and a perturbed copy written here, read back and checked against an
// independent per-tensor SLERP; `path+lora_path` parents; every refusal exits 1 with one line and leaves no
// output and no partial directory; a cancelled merge likewise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { fileSink } from '../../src/io/node/fs.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { writeSafetensors } from '../../src/io/safetensors/writer.ts';
import { randomArray } from '../helpers/gpu.ts';

const fixture = (name: string) => resolve('public/hub', OWNER, name, 'resolve', REVISION);
const BASE = fixture('tiny-llama');
let tmp: string;
let baseW: Map<string, { shape: number[]; data: Float32Array }>;
let otherW: Map<string, { shape: number[]; data: Float32Array }>;

async function readWeights(dir: string) {
  const ck = await openCheckpoint(dirModelFiles(dir));
  const w = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const n of ck.names()) w.set(n, { shape: ck.info(n).shape, data: await ck.readF32(n) });
  return w;
}

/** A model folder: the fixture's config and tokenizer files with these weights (F32). */
async function writeModel(dir: string, weights: Map<string, { shape: number[]; data: Float32Array }>, config: Record<string, unknown> = {}) {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(BASE)) if (f !== 'model.safetensors' && f !== 'config.json') copyFileSync(join(BASE, f), join(dir, f));
  const cfg = { ...(JSON.parse(readFileSync(join(BASE, 'config.json'), 'utf8')) as object), ...config };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  const tensors = [...weights].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: new Uint8Array(t.data.buffer.slice(0)) }));
  await writeSafetensors(await fileSink(join(dir, 'model.safetensors')), tensors, { format: 'pt' });
}

/** SLERP from the formula in float64 (independent of src/engine/merge). */
function slerpRef(t: number, a: Float32Array, b: Float32Array): Float64Array {
  let aa = 0, bb = 0, ab = 0;
  for (let i = 0; i < a.length; i++) {
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
    ab += a[i]! * b[i]!;
  }
  const dot = ab / Math.sqrt(aa * bb);
  const th = Math.acos(dot);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    out[i] = Math.abs(dot) > 0.9995 ? (1 - t) * a[i]! + t * b[i]! : (Math.sin((1 - t) * th) * a[i]! + Math.sin(t * th) * b[i]!) / Math.sin(th);
  }
  return out;
}

function maxRel(got: Float32Array, want: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return m;
}

const slerpYaml = (other: string, t: string | number, base = BASE) => `slices:
  - sources:
      - model: ${base}
        layer_range: [0, 2]
      - model: ${other}
        layer_range: [0, 2]
merge_method: slerp
base_model: ${base}
parameters:
  t:
    - filter: self_attn
      value: ${t}
    - filter: mlp
      value: ${t}
    - value: ${t}
`;

function writeYaml(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

/** Nothing named like a partial merge is left beside the outputs. */
function noPartials(): void {
  expect(readdirSync(tmp).filter((f) => f.includes('alloy-partial'))).toEqual([]);
}

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-merge-cli-'));
  baseW = await readWeights(BASE);
  otherW = new Map([...baseW].map(([n, t], i) => {
    const noise = randomArray(t.data.length, 500 + i);
    return [n, { shape: t.shape, data: t.data.map((x, j) => x + 0.3 * noise[j]!) }];
  }));
  await writeModel(join(tmp, 'other'), otherW);
  const missing = new Map(otherW);
  missing.delete('model.layers.0.post_attention_layernorm.weight');
  await writeModel(join(tmp, 'missing'), missing);
  const bad = new Map(otherW);
  bad.set('model.layers.1.mlp.down_proj.weight', { shape: [64, 127], data: new Float32Array(64 * 127) });
  await writeModel(join(tmp, 'badshape'), bad);
  const vocab = new Map(otherW);
  vocab.set('model.embed_tokens.weight', { shape: [512, 64], data: randomArray(512 * 64, 3) });
  await writeModel(join(tmp, 'bigvocab'), vocab, { vocab_size: 512 });
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy merge', () => {
  it('SLERPs two checkpoints into a Hugging Face folder equal to an independent per-tensor computation', async () => {
    const out = join(tmp, 'merged');
    const io = capture();
    // the other model by a path relative to the YAML file
    expect(await main(['merge', writeYaml('slerp.yml', slerpYaml('other', 0.35)), '--out', out], io)).toBe(0);
    expect(io.stdout).toMatch(/merged 20 tensors \(slerp, 2 layers\) into .*merged in [\d.]+ s/);
    expect(io.stderr).toMatch(/merged 20\/20 tensors/);
    const got = await readWeights(out);
    expect([...got.keys()].sort()).toEqual([...baseW.keys()].sort());
    for (const [name, t] of got) expect(maxRel(t.data, slerpRef(0.35, baseW.get(name)!.data, otherW.get(name)!.data)), name).toBeLessThan(1e-5);
    expect(readdirSync(out).sort()).toEqual(
      ['README.md', 'config.json', 'generation_config.json', 'mergekit_config.yml', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    expect(readFileSync(join(out, 'mergekit_config.yml'), 'utf8')).toBe(slerpYaml('other', 0.35)); // the config as given
    expect(readFileSync(join(out, 'tokenizer.json'))).toEqual(readFileSync(join(BASE, 'tokenizer.json')));
    // and the merged folder is a model the CLI can load
    const info = capture();
    expect(await main(['info', '--model', out], info)).toBe(0);
    expect(info.stdout).toMatch(/LlamaForCausalLM/);
    noPartials();
  });

  it('t = 0 gives the base exactly and t = 1 the other model', async () => {
    for (const [t, want] of [[0, baseW], [1, otherW]] as const) {
      const out = join(tmp, `t${t}`);
      expect(await main(['merge', writeYaml(`t${t}.yml`, slerpYaml('other', t)), '--out', out], capture())).toBe(0);
      const got = await readWeights(out);
      for (const [name, w] of want) expect(Array.from(got.get(name)!.data), name).toEqual(Array.from(w.data));
    }
  });

  it('merges a "path+lora_path" parent with the adapter folded in', async () => {
    const r = 2;
    const target = 'model.layers.1.self_attn.v_proj';
    const [outDim, inDim] = baseW.get(`${target}.weight`)!.shape as [number, number];
    const a = randomArray(r * inDim, 71).map((x) => x * 0.5);
    const b = randomArray(outDim * r, 72).map((x) => x * 0.5);
    const dir = join(tmp, 'adapter');
    await writeSafetensors(await fileSink(join(dir, 'adapter_model.safetensors')), [
      { name: `base_model.model.${target}.lora_A.weight`, dtype: 'F32', shape: [r, inDim], data: new Uint8Array(a.buffer) },
      { name: `base_model.model.${target}.lora_B.weight`, dtype: 'F32', shape: [outDim, r], data: new Uint8Array(b.buffer) },
    ]);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r, lora_alpha: 4, target_modules: ['v_proj'] }));
    const out = join(tmp, 'lora-merged');
    expect(await main(['merge', writeYaml('lora.yml', slerpYaml('other+adapter', 0.6)), '--out', out], capture())).toBe(0);
    const got = await readWeights(out);
    const w = otherW.get(`${target}.weight`)!.data;
    const folded = new Float32Array(w.length);
    for (let o = 0; o < outDim; o++)
      for (let i = 0; i < inDim; i++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += b[o * r + k]! * a[k * inDim + i]!;
        folded[o * inDim + i] = w[o * inDim + i]! + (4 / r) * s;
      }
    expect(maxRel(got.get(`${target}.weight`)!.data, slerpRef(0.6, baseW.get(`${target}.weight`)!.data, folded))).toBeLessThan(1e-5);
    const untouched = 'model.layers.1.self_attn.q_proj.weight';
    expect(maxRel(got.get(untouched)!.data, slerpRef(0.6, baseW.get(untouched)!.data, otherW.get(untouched)!.data))).toBeLessThan(1e-5);
  });

  it('writes shards with an index when --shard-size asks for them', async () => {
    const out = join(tmp, 'sharded');
    expect(await main(['merge', writeYaml('sh.yml', slerpYaml('other', 0.5)), '--out', out, '--shard-size', '150000'], capture())).toBe(0);
    const files = readdirSync(out);
    expect(files).toContain('model.safetensors.index.json');
    expect(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    expect((await readWeights(out)).size).toBe(baseW.size);
  });

  it('refuses with one clear line, exit 1, and leaves no output or partial directory', async () => {
    const taken = join(tmp, 'taken');
    mkdirSync(taken);
    writeFileSync(join(taken, 'keep.txt'), 'mine');
    const cases: Array<[string[], RegExp]> = [
      [['merge', writeYaml('arch.yml', slerpYaml(fixture('tiny-qwen2'), 0.5)), '--out', join(tmp, 'o1')], /different architectures .*LlamaForCausalLM.*Qwen2ForCausalLM.*--allow-crimes/],
      [['merge', writeYaml('shape.yml', slerpYaml('badshape', 0.5)), '--out', join(tmp, 'o2')], /tensor "model\.layers\.1\.mlp\.down_proj\.weight" has shape \[64, 127\] in badshape/],
      [['merge', writeYaml('miss.yml', slerpYaml('missing', 0.5)), '--out', join(tmp, 'o3')], /missing has no tensor "model\.layers\.0\.post_attention_layernorm\.weight"/],
      [['merge', writeYaml('vocab.yml', slerpYaml('bigvocab', 0.5)), '--out', join(tmp, 'o4')], /vocabularies differ \(bigvocab has 512 rows, .* 384\); set tokenizer_source/],
      [['merge', writeYaml('three.yml', slerpYaml('other', 0.5).replace('merge_method', '  - sources: []\nmerge_method')), '--out', join(tmp, 'o5')], /three\.yml:7: slices\[1\]\.sources lists no sources/],
      [['merge', writeYaml('many.yml', `models:\n  - model: ${BASE}\n  - model: other\n  - model: missing\nmerge_method: slerp\nbase_model: ${BASE}\nparameters:\n  t: 0.5\n`), '--out', join(tmp, 'o6')], /slerp merges exactly 2 models, but 3 are given/],
      [['merge', writeYaml('ok.yml', slerpYaml('other', 0.5)), '--out', taken], /--out .*taken exists and is not empty/],
      [['merge', writeYaml('nomodel.yml', slerpYaml('nowhere', 0.5)), '--out', join(tmp, 'o7')], /model directory .*nowhere does not exist/],
      [['merge', join(tmp, 'absent.yml'), '--out', join(tmp, 'o8')], /cannot read merge config/],
      [['merge', writeYaml('ok2.yml', slerpYaml('other', 0.5))], /--out is required/],
    ];
    for (const [argv, re] of cases) {
      const io = capture();
      expect(await main(argv, io), argv.join(' ')).toBe(1);
      expect(io.stderr).toMatch(re);
      expect(io.stderr.trim().split('\n').at(-1)).toMatch(/^alloy: /);
      const out = argv[argv.indexOf('--out') + 1];
      if (out && out !== taken) expect(existsSync(out), out).toBe(false);
    }
    expect(readdirSync(taken)).toEqual(['keep.txt']);
    noPartials();
  });

  it('a cancelled merge leaves no output', async () => {
    const ctl = new AbortController();
    ctl.abort();
    const out = join(tmp, 'cancelled');
    const io = capture();
    expect(await main(['merge', writeYaml('c.yml', slerpYaml('other', 0.5)), '--out', out], io, ctl.signal)).toBe(1);
    expect(io.stderr).toMatch(/merge cancelled; no output written/);
    expect(existsSync(out)).toBe(false);
    noPartials();
  });

  it('runs as a real command through bin/alloy.mjs', () => {
    const out = join(tmp, 'bin-merged');
    const stdout = execFileSync(process.execPath, ['bin/alloy.mjs', 'merge', writeYaml('bin.yml', slerpYaml('other', 0.5)), '--out', out], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(stdout).toMatch(/merged 20 tensors/);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    // a fresh Node process that starts Vite's module runner: seconds on an idle machine, more on a busy one
  }, 60_000);
});
