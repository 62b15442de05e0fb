// SLERP merge throughput for two SmolLM2-135M-shaped BF16 checkpoints on disk (random weights, written once
// to a temp dir): Alloy's streaming merge (`alloy merge`: --device cpu, auto, and gpu, which here is SwiftShader), a straightforward CPU implementation
// (read both whole checkpoints, slerp in float64 loops, write), and the raw read bandwidth of the same files —
// the target is a merge bound by reading its inputs.
import { it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type Io } from '../src/cli/main.ts';
import { expectedTensorShapes, parseModelConfig } from '../src/io/config.ts';
import { writeCheckpoint, openCheckpoint } from '../src/io/safetensors/checkpoint.ts';
import { encodeFromF32, decodeToF32 } from '../src/io/safetensors/dtypes.ts';
import { fileSink } from '../src/io/node/fs.ts';
import { dirModelFiles } from '../src/io/node/dir-model-files.ts';
import { writeSafetensors } from '../src/io/safetensors/writer.ts';
import { writeSuite, type BenchRow } from './report.ts';

const CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 576, intermediate_size: 1536,
  num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192,
  rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true, vocab_size: 49152, hidden_act: 'silu',
  torch_dtype: 'bfloat16', bos_token_id: 0, eos_token_id: 0,
};

function randomBf16(n: number, seed: number): Uint8Array {
  const f = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[i] = (s / 4294967296 - 0.5) * 0.1;
  }
  return encodeFromF32('BF16', f);
}

async function writeModel(dir: string, seed: number): Promise<number> {
  const shapes = expectedTensorShapes(parseModelConfig(CONFIG));
  const tensors = [...shapes].map(([name, shape], i) => ({
    name, dtype: 'BF16' as const, shape, data: async () => randomBf16(shape.reduce((a, b) => a * b, 1), seed * 1000 + i),
  }));
  await writeCheckpoint(tensors, { openSink: (f) => fileSink(join(dir, f)) });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
  return tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
}

async function readAll(dir: string): Promise<number> {
  const fh = await open(join(dir, 'model.safetensors'), 'r');
  const buf = new Uint8Array(16 << 20);
  let total = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  await fh.close();
  return total;
}

/** The straightforward way: whole tensors in, float64 slerp per tensor, bf16 out. */
async function naiveSlerp(a: string, b: string, out: string, t: number): Promise<void> {
  const A = await openCheckpoint(dirModelFiles(a));
  const B = await openCheckpoint(dirModelFiles(b));
  const outTensors = [];
  for (const name of A.names()) {
    const x = decodeToF32('BF16', await A.readRaw(name));
    const y = decodeToF32('BF16', await B.readRaw(name));
    let xx = 0, yy = 0, xy = 0;
    for (let i = 0; i < x.length; i++) { xx += x[i]! * x[i]!; yy += y[i]! * y[i]!; xy += x[i]! * y[i]!; }
    const dot = xy / (Math.sqrt(xx) * Math.sqrt(yy));
    const r = new Float32Array(x.length);
    if (Math.abs(dot) > 0.9995) for (let i = 0; i < x.length; i++) r[i] = (1 - t) * x[i]! + t * y[i]!;
    else {
      const th = Math.acos(dot), s = Math.sin(th);
      const c0 = Math.sin((1 - t) * th) / s, c1 = Math.sin(t * th) / s;
      for (let i = 0; i < x.length; i++) r[i] = c0 * x[i]! + c1 * y[i]!;
    }
    outTensors.push({ name, dtype: 'BF16' as const, shape: A.info(name).shape, data: encodeFromF32('BF16', r) });
  }
  await writeSafetensors(await fileSink(join(out, 'model.safetensors')), outTensors);
}

function rssPeak<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; peakRss: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  return fn().then((value) => {
    clearInterval(timer);
    return { value, ms: performance.now() - t0, peakRss: Math.max(peak, process.memoryUsage().rss) };
  });
}

it('SLERP merge throughput: Alloy vs a straightforward CPU merge', async () => {
  const root = mkdtempSync(join(tmpdir(), 'alloy-merge-bench-'));
  try {
    const [a, b] = [join(root, 'a'), join(root, 'b')];
    const params = await writeModel(a, 1);
    await writeModel(b, 2);
    const yaml = join(root, 'merge.yml');
    writeFileSync(yaml, `models:\n  - model: a\n  - model: b\nmerge_method: slerp\nbase_model: a\nparameters:\n  t:\n    - filter: self_attn\n      value: [0, 0.5, 0.3, 0.7, 1]\n    - filter: mlp\n      value: [1, 0.5, 0.7, 0.3, 0]\n    - value: 0.5\ndtype: bfloat16\n`);
    const fileBytes = readFileSync(join(a, 'model.safetensors')).byteLength;
    const moved = fileBytes * 3; // two read, one written
    const read = await rssPeak(async () => (await readAll(a)) + (await readAll(b)));
    const readGBs = (2 * fileBytes) / read.ms / 1e6;
    const io: Io = { out: () => {}, err: () => {} };
    const rows: BenchRow[] = [];
    const add = (what: string, r: { ms: number; peakRss: number }) =>
      rows.push({
        what,
        's': r.ms / 1000,
        'M params/s': params / r.ms / 1e3,
        'GB/s (read+write)': moved / r.ms / 1e6,
        'of read bandwidth': `${Math.round((100 * (2 * fileBytes) / r.ms / 1e6) / readGBs)}%`,
        'peak RSS MB': r.peakRss / 1e6,
      });
    rows.push({ what: `read both inputs (${(2 * fileBytes / 1e6).toFixed(0)} MB)`, s: read.ms / 1000, 'M params/s': 2 * params / read.ms / 1e3, 'GB/s (read+write)': readGBs, 'of read bandwidth': '100%', 'peak RSS MB': read.peakRss / 1e6 });
    for (const device of ['cpu', 'auto', 'gpu'] as const) {
      const out = join(root, `out-${device}`);
      const r = await rssPeak(async () => {
        const code = await main(['merge', yaml, '--out', out, '--device', device], io);
        if (code !== 0) throw new Error(`merge --device ${device} failed`);
      });
      add(`alloy merge --device ${device}`, r);
      rmSync(out, { recursive: true, force: true });
    }
    const naiveOut = join(root, 'out-naive');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(naiveOut);
    add('straightforward CPU (whole tensors, f64 loops)', await rssPeak(() => naiveSlerp(a, b, naiveOut, 0.5)));
    console.table(rows);
    writeSuite({
      suite: 'merge',
      adapter: 'CPU + SwiftShader (Dawn) for --device gpu',
      note: `SLERP of two SmolLM2-135M-shaped BF16 checkpoints (${(params / 1e6).toFixed(1)} M params each, random weights, files in the OS page cache after writing), the study's gradient t. Bandwidth counts two inputs read and one output written; "of read bandwidth" compares input bytes per second with a plain sequential read of the same files. Peak RSS is the whole Node process (includes the engine and the test runner, and for --device gpu SwiftShader's "GPU" buffers, which live in host memory). The CPU path merges BF16 bytes to BF16 bytes in 8192-element chunks (two passes: float64 dots, then combine + round-to-nearest-even), reading the next tensor while it computes; --device auto uses it on a software adapter such as SwiftShader (it runs WGSL on the same two cores, slower than the CPU path) and the GPU kernels on real GPUs.`,
      rows,
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
