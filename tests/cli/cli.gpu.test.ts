// The `alloy` CLI end to end: in-process through main() (same engine and I/O as the studio), and once as a real
// subprocess through bin/alloy.mjs. Logits are held to the float64 reference forward (max |Δlogit| ≤ 1e-5 for
// F32 weights, the bound of tests/engine/model/logits.gpu.test.ts; JSON keeps every f32 digit), with and without a
// PEFT LoRA adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { fileSink } from '../../src/io/node/fs.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/config.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { writeSafetensors } from '../../src/io/safetensors/writer.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { randomArray } from '../helpers/gpu.ts';

const TOL = 1e-5;
const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
let tmp: string;
let config: ModelConfig;
let weights: Map<string, Float32Array>;

function maxDiff(got: number[][], want: Float64Array, V: number): number {
  let m = 0;
  got.forEach((row, t) => row.forEach((x, v) => (m = Math.max(m, Math.abs(x - want[t * V + v]!)))));
  return m;
}

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-cli-'));
  const files = dirModelFiles(MODEL);
  config = parseModelConfig(await readJson(files, 'config.json'));
  const ckpt = await openCheckpoint(files);
  weights = new Map();
  for (const n of ckpt.names()) weights.set(n, await ckpt.readF32(n));
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('alloy CLI', () => {
  it('info names the architecture, parameter count, dtype and memory', async () => {
    const io = capture();
    expect(await main(['info', '--model', MODEL], io)).toBe(0);
    expect(io.stdout).toMatch(/LlamaForCausalLM/);
    expect(io.stdout).toMatch(/parameters\s+98,624/);
    expect(io.stdout).toMatch(/F32 × 20/);
    expect(io.stdout).toMatch(/memory\s+\d+ KB of weights/);
    expect(io.stdout).toMatch(/[\d.]+ [KM]B for a 128-token context \(KV cache \d+ KB/);
  });

  it('logits match the reference forward', async () => {
    const ids = [1, 40, 7, 300, 2, 99];
    const out = join(tmp, 'logits.json');
    const io = capture();
    expect(await main(['logits', '--model', MODEL, '--ids', ids.join(','), '--out', out], io)).toBe(0);
    const got = (JSON.parse(readFileSync(out, 'utf8')) as { logits: number[][] }).logits;
    expect(got).toHaveLength(ids.length);
    expect(got[0]).toHaveLength(config.vocabSize);
    const want = referenceForward(config, (n) => weights.get(n)!, ids);
    const err = maxDiff(got, want, config.vocabSize);
    console.log(`alloy logits: max|Δlogit| vs reference ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
  });

  it('logits with a PEFT LoRA adapter match the reference on W + (alpha/r)·B·A', async () => {
    const r = 4;
    const alpha = 8;
    const targets = ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];
    const dir = join(tmp, 'adapter');
    const tensors = [];
    const adapted = new Map(weights);
    let seed = 11;
    for (const t of targets) {
      const [out, inn] = [
        t.endsWith('down_proj') ? config.hiddenSize : config.numHeads * config.headDim,
        t.endsWith('down_proj') ? config.intermediateSize : config.hiddenSize,
      ];
      const a = randomArray(r * inn, seed++).map((x) => x * 0.3);
      const b = randomArray(out * r, seed++).map((x) => x * 0.3);
      tensors.push({ name: `base_model.model.${t}.lora_A.weight`, dtype: 'F32' as const, shape: [r, inn], data: new Uint8Array(a.buffer) });
      tensors.push({ name: `base_model.model.${t}.lora_B.weight`, dtype: 'F32' as const, shape: [out, r], data: new Uint8Array(b.buffer) });
      // PEFT's merge, written out independently of src/engine/lora: W' = W + (alpha / r) · B @ A
      const w = weights.get(`${t}.weight`)!;
      const merged = new Float32Array(w.length);
      for (let o = 0; o < out; o++)
        for (let i = 0; i < inn; i++) {
          let s = 0;
          for (let k = 0; k < r; k++) s += b[o * r + k]! * a[k * inn + i]!;
          merged[o * inn + i] = w[o * inn + i]! + (alpha / r) * s;
        }
      adapted.set(`${t}.weight`, merged);
    }
    await writeSafetensors(await fileSink(join(dir, 'adapter_model.safetensors')), tensors, { format: 'pt' });
    writeFileSync(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ peft_type: 'LORA', r, lora_alpha: alpha, target_modules: ['q_proj', 'down_proj'], task_type: 'CAUSAL_LM' }),
    );
    const ids = [1, 17, 250, 3];
    const out = join(tmp, 'logits-adapter.json');
    expect(await main(['logits', '--model', MODEL, '--adapter', dir, '--ids', ids.join(','), '--out', out], capture())).toBe(0);
    const got = (JSON.parse(readFileSync(out, 'utf8')) as { logits: number[][] }).logits;
    const want = referenceForward(config, (n) => adapted.get(n)!, ids);
    const err = maxDiff(got, want, config.vocabSize);
    console.log(`alloy logits --adapter: max|Δlogit| vs reference on W + (alpha/r)·B·A ${err.toExponential(2)}`);
    expect(err).toBeLessThan(TOL);
    // and the adapter really changed something
    const base = referenceForward(config, (n) => weights.get(n)!, ids);
    expect(maxDiff(got, base, config.vocabSize)).toBeGreaterThan(1e-2);
  });

  it('generate streams text and reports tokens/s', async () => {
    const io = capture();
    expect(await main(['generate', '--model', MODEL, '--prompt', 'Silk is', '--max-tokens', '5'], io)).toBe(0);
    expect(io.stdout.trim().length).toBeGreaterThan(0);
    expect(io.stderr).toMatch(/5 tokens in [\d.]+ s \([\d.]+ tokens\/s\), stopped: length/);
    expect(io.stderr).toMatch(/GPU memory: \d+ KB of weights, peak \d+ KB \(.*, (software|hardware) kernels/);
  });

  it('generate --kv-cache f16 on the stories260K demo model: the greedy text of the f32 cache', async () => {
    const run = async (extra: string[]) => {
      const io = capture();
      expect(await main(['generate', '--model', 'public/demo/stories260K', '--prompt', 'Once upon a time', '--max-tokens', '24', ...extra], io)).toBe(0);
      return io;
    };
    const f32 = await run([]);
    const f16 = await run(['--kv-cache', 'f16']);
    console.log(`greedy, f32 cache: ${JSON.stringify(f32.stdout)}\ngreedy, f16 cache: ${JSON.stringify(f16.stdout)}`);
    expect(f16.stderr).toMatch(/kernels.*, f16 KV cache\)/);
    // a real model's greedy margins are wider than the cache's rounding over these 24 tokens
    expect(f16.stdout).toBe(f32.stdout);
  });

  it('refuses bad input with one clear line and a non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['generate', '--model', MODEL, '--prompt', 'x', '--kv-cache', 'f8'], /--kv-cache: KV cache dtype "f8" is not one of f32, f16/],
      [['logits', '--model', MODEL, '--ids', '1', '--out', join(tmp, 'z.json'), '--activations', 'bf16'], /--activations: activation dtype "bf16" is not one of f32, f16/],
      [['logits', '--model', MODEL, '--ids', '1,999', '--out', join(tmp, 'x.json')], /--ids: entry 2 \("999"\) is not a token id in \[0, 384\)/],
      [['info', '--model', join(tmp, 'nope')], /model directory .*nope does not exist/],
      [['info'], /--model is required/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['logits', '--model', MODEL, '--ids', '1', '--out', join(tmp, 'y.json'), '--adapter', MODEL], /no adapter_config\.json/],
    ];
    for (const [argv, message] of cases) {
      const io = capture();
      expect(await main(argv, io)).toBe(1);
      expect(io.stderr).toMatch(message);
      expect(io.stderr.trim().split('\n')[0]).toMatch(/^alloy: /);
    }
  });

  it('runs as a real command through bin/alloy.mjs', () => {
    const out = execFileSync(process.execPath, ['bin/alloy.mjs', 'info', '--model', MODEL], { encoding: 'utf8' });
    expect(out).toMatch(/LlamaForCausalLM/);
    let code = 0;
    try {
      execFileSync(process.execPath, ['bin/alloy.mjs', 'info', '--model', join(tmp, 'missing')], { stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(1);
  });
});
