import { it } from 'vitest';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { readJson } from '../../../src/io/model-files.ts';
import { parseModelConfig } from '../../../src/io/config.ts';
import { openCheckpoint } from '../../../src/io/safetensors/checkpoint.ts';
import { acquireNodeDevice } from '../../../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../../../src/engine/gpu/kernels.ts';
import { loadModel, prefill, stepGreedy } from '../../../src/engine/model/index.ts';

it('prof', async () => {
  const files = dirModelFiles('public/demo/stories260K');
  const config = parseModelConfig(await readJson(files, 'config.json'));
  const ctx = await acquireNodeDevice();
  const pool = new BufferPool(ctx.device);
  const model = await loadModel(ctx, new KernelRegistry(ctx.device), pool, await openCheckpoint(files), config);
  const { cache } = await prefill(model, [[1, 403, 407]], { capacity: 300 });
  let tok = 5;
  for (let i = 0; i < 10; i++) tok = (await stepGreedy(cache, [tok]))[0]!;
  const dev = ctx.device;
  let n = { disp: 0, bg: 0, buf: 0, sub: 0, wb: 0 };
  const c = dev as any;
  const wrap = (o: any, name: string, key: keyof typeof n) => { const f = o[name].bind(o); o[name] = (...a: any[]) => { n[key]++; return f(...a); }; };
  wrap(c, 'createBindGroup', 'bg'); wrap(c, 'createBuffer', 'buf'); wrap(c.queue, 'submit', 'sub'); wrap(c.queue, 'writeBuffer', 'wb');
  const ce = c.createCommandEncoder.bind(c);
  let passes = 0;
  c.createCommandEncoder = (...a: any[]) => { const e = ce(...a); const bp = e.beginComputePass.bind(e); e.beginComputePass = (...b: any[]) => { passes++; const p = bp(...b); const d = p.dispatchWorkgroups.bind(p); p.dispatchWorkgroups = (...x: any[]) => { n.disp++; return d(...x); }; return p; }; return e; };
  let enc = 0; let tsub = 0;
  const sub = c.queue.submit.bind(c.queue);
  c.queue.submit = (...a: any[]) => { const t = performance.now(); enc += t - tsub; return sub(...a); };
  const t0 = performance.now();
  const N = 100;
  for (let i = 0; i < N; i++) { tsub = performance.now(); tok = (await stepGreedy(cache, [tok]))[0]!; }
  const ms = (performance.now() - t0) / N;
  console.log(`encode ${(enc / N).toFixed(2)} ms; per token: ${ms.toFixed(2)} ms (${(1000 / ms).toFixed(0)} tok/s); dispatches ${n.disp / N}, passes ${passes / N}, bind groups ${n.bg / N}, buffers ${n.buf / N}, submits ${n.sub / N}, writeBuffer ${n.wb / N}`);
}, 120000);
