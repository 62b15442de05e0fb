// Where one LoRA training step's time goes (a tool, not part of `npm run bench`'s tables; writes no files):
//   npx vitest run --config vitest.bench.config.ts bench/train-profile.bench.ts
// On the tiny fixture at the train bench's setting (B = 4, T = 128, r = 16 on all seven projections, CPT), it
//   1. times whole Trainer steps (wall, median of STEPS after a warm-up), as bench/train.bench.ts does;
//   2. records one step through a recording device: submits, compute dispatches, GPU→CPU readbacks (MAP_READ
//      buffers) and onSubmittedWorkDone awaits, each tagged with its command encoder's label (= the phase);
//   3. replays every recorded dispatch alone (same pipeline, bind group and grid; one submit + wait each, REPS
//      times, median) and sums the medians per phase and per kernel: the GPU time of the step without the
//      encoding, submit and readback gaps. Replays write the step's buffers again (accumulating ones grow); only
//      the time is used. Wall − Σ replay ≈ what the step spends outside kernels (JS encoding, uniform/bind-group
//      creation, submits, stalls on readbacks), with the per-submit fixed cost counted in every replay instead.
// The machine is shared: compare numbers from the same run, not across runs.
import { join } from 'node:path';
import { it } from 'vitest';
import { ensureFixtures, OWNER, REVISION } from '../scripts/fixtures/index.ts';
import { parseModelConfig } from '../src/io/config.ts';
import { readJson } from '../src/io/model-files.ts';
import { dirModelFiles } from '../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../src/io/safetensors/checkpoint.ts';
import { acquireNodeDevice } from '../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../src/engine/gpu/kernels.ts';
import { loadModel } from '../src/engine/model/index.ts';
import { createLora } from '../src/engine/lora/adapter.ts';
import { LORA_TARGETS } from '../src/engine/lora/targets.ts';
import { Trainer, trainConfig } from '../src/engine/train/trainer.ts';
import type { Sequence } from '../src/common/training-data.ts';

const [B, R, ALPHA] = [4, 16, 32];
const STEPS = Number(process.env.ALLOY_PROFILE_STEPS ?? 3);
const REPS = Number(process.env.ALLOY_PROFILE_REPS ?? 3);

interface Dispatch {
  phase: string;
  kernel: string;
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
  groups: [number, number, number];
}

interface Recording {
  on: boolean;
  dispatches: Dispatch[];
  submits: number;
  readbacks: number;
  waits: number;
  encoders: Map<string, number>;
}

/** Wraps the device's encoder factory and queue so one step's work can be counted and replayed. */
function instrument(device: GPUDevice): Recording {
  const rec: Recording = { on: false, dispatches: [], submits: 0, readbacks: 0, waits: 0, encoders: new Map() };
  const phaseOf = (label: string | undefined) => (label ?? '').replace(/\d+/g, 'N') || '(readback copy)';
  const createEncoder = device.createCommandEncoder.bind(device);
  device.createCommandEncoder = (desc?: GPUCommandEncoderDescriptor) => {
    const enc = createEncoder(desc);
    if (!rec.on) return enc;
    const phase = phaseOf(desc?.label);
    rec.encoders.set(phase, (rec.encoders.get(phase) ?? 0) + 1);
    const beginPass = enc.beginComputePass.bind(enc);
    enc.beginComputePass = (pd?: GPUComputePassDescriptor) => {
      const pass = beginPass(pd);
      // one pass holds many dispatches: each takes the pipeline and bind group set last
      const d: Partial<Dispatch> = { phase };
      const [setPipeline, setBindGroup, dispatch] = [pass.setPipeline.bind(pass), pass.setBindGroup.bind(pass), pass.dispatchWorkgroups.bind(pass)];
      pass.setPipeline = (p: GPUComputePipeline) => ((d.pipeline = p), (d.kernel = p.label || '?'), setPipeline(p));
      pass.setBindGroup = ((i: number, g: GPUBindGroup) => ((d.bind = g), setBindGroup(i, g))) as typeof pass.setBindGroup;
      pass.dispatchWorkgroups = (x: number, y = 1, z = 1) => {
        rec.dispatches.push({ ...(d as Dispatch), groups: [x, y, z] });
        dispatch(x, y, z);
      };
      return pass;
    };
    return enc;
  };
  const submit = device.queue.submit.bind(device.queue);
  device.queue.submit = (cbs: Iterable<GPUCommandBuffer>) => {
    if (rec.on) rec.submits++;
    submit(cbs);
  };
  const done = device.queue.onSubmittedWorkDone.bind(device.queue);
  device.queue.onSubmittedWorkDone = () => {
    if (rec.on) rec.waits++;
    return done();
  };
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor) => {
    if (rec.on && desc.usage & 0x01 /* MAP_READ */) rec.readbacks++;
    return createBuffer(desc);
  };
  return rec;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1).padStart(9);

function table(title: string, rows: Map<string, { n: number; t: number }>, total: number): void {
  console.log(`\n${title}`);
  for (const [k, v] of [...rows].sort((a, b) => b[1].t - a[1].t)) {
    console.log(`${ms(v.t)} ms ${((100 * v.t) / total).toFixed(1).padStart(5)}%  ×${String(v.n).padEnd(4)} ${k}`);
  }
}

it('train profile: phases, dispatches, submits, readbacks, kernels of one LoRA step', async () => {
  const ctx = await acquireNodeDevice();
  const rec = instrument(ctx.device);
  const kernels = new KernelRegistry(ctx.device);
  await ensureFixtures('public/hub');
  const files = dirModelFiles(join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION));
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const T = config.maxPositionEmbeddings;
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, kernels, pool, await openCheckpoint(files), config);
  const lora = createLora(model, { r: R, alpha: ALPHA, targets: [...LORA_TARGETS], seed: 0 });
  const train: Sequence[] = Array.from({ length: B }, (_, b) => ({ ids: Array.from({ length: T }, (_, t) => (b * 131 + t * 7919 + 13) % config.vocabSize), promptLen: 0 }));
  const wall: number[] = [];
  let stepNo = 0;
  const trainer = new Trainer(model, lora, trainConfig({ method: 'cpt', steps: STEPS + 2, lr: 1e-3, microBatch: B, warmupSteps: 0 }), { train }, {
    onEvent: (e) => {
      if (e.type !== 'step') return;
      stepNo = e.step;
      if (e.step > 1 && e.step <= STEPS + 1) wall.push((B * T) / e.tokensPerSec);
      // the last step is the recorded one (recording costs a little JS time, so it is not among the timed ones)
      rec.on = e.step === STEPS + 1;
    },
  });
  try {
    await trainer.run();
    if (stepNo !== STEPS + 2) throw new Error(`trainer stopped at step ${stepNo}`);
    rec.on = false;
    const stepS = median(wall);
    console.log(`\nstep wall: median ${(stepS * 1000).toFixed(0)} ms of [${wall.map((s) => (s * 1000).toFixed(0)).join(', ')}] → ${((B * T) / stepS).toFixed(1)} tok/s (B=${B}, T=${T})`);
    console.log(`per step: ${rec.submits} submits, ${rec.dispatches.length} dispatches, ${rec.readbacks} GPU→CPU readbacks, ${rec.waits} onSubmittedWorkDone awaits`);
    console.log(`command encoders by phase: ${[...rec.encoders].map(([k, n]) => `${k} ×${n}`).join(', ')}`);

    // Replay each dispatch alone: its GPU time at the step's shapes.
    const { device } = ctx;
    const one = async (d: Dispatch) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bind);
      pass.dispatchWorkgroups(...d.groups);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t0;
    };
    // the fixed cost of a submit + wait, measured on an empty command buffer
    const empty: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      device.queue.submit([device.createCommandEncoder().finish()]);
      await device.queue.onSubmittedWorkDone();
      empty.push(performance.now() - t0);
    }
    const base = median(empty);
    const byPhase = new Map<string, { n: number; t: number }>();
    const byKernel = new Map<string, { n: number; t: number }>();
    let total = 0;
    for (const d of rec.dispatches) {
      const ts: number[] = [];
      for (let i = 0; i < REPS; i++) ts.push(await one(d));
      const t = Math.max(0, median(ts) - base);
      total += t;
      const key = `${d.kernel} [${d.groups.join('×')}]`;
      for (const [m, k] of [[byPhase, d.phase], [byKernel, key]] as const) {
        const e = m.get(k) ?? { n: 0, t: 0 };
        e.n++;
        e.t += t;
        m.set(k, e);
      }
    }
    console.log(`\nreplayed dispatches: Σ ${total.toFixed(0)} ms of GPU time (each minus an empty submit+wait, median ${base.toFixed(2)} ms); step wall ${(stepS * 1000).toFixed(0)} ms → ${(stepS * 1000 - total).toFixed(0)} ms outside kernels`);
    table('GPU time by phase (encoder label, layer numbers folded to N)', byPhase, total);
    table('GPU time by kernel and grid', byKernel, total);
  } finally {
    trainer.dispose();
    lora.dispose();
    model.dispose();
    pool.destroyAll();
  }
});
