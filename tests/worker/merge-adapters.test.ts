// Stored adapters as merge parents ("model + adapter", src/worker/merge.ts + app/lib/merge-settings.ts): the panel
// lists every checkpoint of an adapter whose base is cached under a lora_path unique among them; its YAML writes
// mergekit's `model: base+lora_path` and reads back to the same settings; the worker resolves the lora half to the
// stored adapter's PEFT files, so the merge reads base + adapter folded exactly as `alloy merge` / Fold do (SLERP
// t = 1 gives the folded weights, t = 0 the base's), and the parents' distances see the adapter.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { memoryModelFiles, readJson } from '../../src/io/model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapter } from '../../src/io/peft.ts';
import type { ByteSink } from '../../src/io/bytes.ts';
import { parseMergeYaml, parseModelRef } from '../../src/engine/merge/config.ts';
import { runMerge } from '../../src/engine/merge/run.ts';
import { withAdapter } from '../../src/engine/lora/fold.ts';
import { adapterParents, defaultSettings, fromMergeConfig, settingsToYaml, toMergeConfig } from '../../src/app/lib/merge-settings.ts';
import { parentDistances, resolver, type MergeDeps } from '../../src/worker/merge.ts';
import { peftAdapter } from '../helpers/peft-adapter.ts';

const DIR = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
const A = 'alloy-fixtures/tiny-llama';
const LORA = 'adapters/story-lora';
const MODULES = ['model.layers.0.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];

async function setup() {
  const cfg = parseModelConfig(await readJson(dirModelFiles(DIR), 'config.json'));
  const files = await peftAdapter(cfg, { r: 4, alpha: 8, modules: MODULES, seed: 3 });
  const deps: MergeDeps = {
    cache: () => Promise.reject(new Error('no cache here')),
    files: async (id) => {
      if (id !== 'tiny') throw new Error(`no model ${id}`);
      return dirModelFiles(DIR, A);
    },
    adapter: async (runId, step) => {
      if (runId !== 'run-1') throw new Error(`no adapter ${runId}`);
      return { runId, label: 'story-lora', modelId: 'tiny', modelLabel: A, step: step ?? 0, imported: true, config: files[ADAPTER_CONFIG], weights: files[ADAPTER_WEIGHTS] };
    },
  };
  const folded = withAdapter(await openCheckpoint(dirModelFiles(DIR)), await readPeftAdapter(memoryModelFiles({ ...files })));
  return { deps, folded };
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

describe('stored adapters as merge parents', () => {
  it('lists every checkpoint of adapters whose base is cached, with unique lora paths', () => {
    const models = [{ id: 'tiny', label: `${A}@main` }];
    const runs = [
      { id: 'r1', label: 'SFT · tiny · qa.jsonl', modelId: 'tiny', checkpoints: [10, 20] },
      { id: 'r2', label: 'story-lora', modelId: 'tiny', checkpoints: [0], imported: { files: [], baseModelName: null, useRslora: false, modules: 2, dtypes: ['F32'] } },
      { id: 'r3', label: 'story lora', modelId: 'tiny', checkpoints: [0], imported: { files: [], baseModelName: null, useRslora: false, modules: 2, dtypes: ['F32'] } },
      { id: 'r4', label: 'orphan', modelId: 'deleted-model', checkpoints: [5] },
      { id: 'r5', label: 'no checkpoint yet', modelId: 'tiny', checkpoints: [] },
    ];
    expect(adapterParents(runs, models).map((o) => [o.key, o.ref, o.label])).toEqual([
      ['adapter:r1@20', 'adapters/SFT-tiny-qa.jsonl-step20', `${A}@main + SFT · tiny · qa.jsonl (step 20)`],
      ['adapter:r1@10', 'adapters/SFT-tiny-qa.jsonl-step10', `${A}@main + SFT · tiny · qa.jsonl (step 10)`],
      ['adapter:r2@0', 'adapters/story-lora', `${A}@main + story-lora`],
      ['adapter:r3@0', 'adapters/story-lora-2', `${A}@main + story lora`],
    ]);
  });

  it('the panel writes mergekit\'s model+lora_path, which reads back to the same settings', () => {
    const s = defaultSettings('slerp', A, `${A}+${LORA}`);
    const yaml = settingsToYaml(s);
    expect(yaml).toContain(`  - model: ${A}+${LORA}\n`);
    expect(yaml).toContain(`base_model: ${A}\n`);
    const { config, warnings } = parseMergeYaml(yaml);
    expect(warnings).toEqual([]);
    expect(config).toEqual(toMergeConfig(s));
    expect(fromMergeConfig(config)).toEqual(s);
    expect(parseModelRef(`${A}+${LORA}`)).toEqual({ model: A, lora: LORA });
  });

  it('the worker resolves the lora half to the stored adapter: SLERP t = 1 is the folded model, t = 0 the base', async () => {
    const { deps, folded } = await setup();
    const resolve = resolver(deps, { [A]: 'tiny' }, { [LORA]: { runId: 'run-1', step: 0 } });
    await expect(resolve('adapters/unknown')).rejects.toThrow(`the merge names model "adapters/unknown", which is not one of the chosen parents (${A}, ${LORA})`);
    const base = await openCheckpoint(dirModelFiles(DIR));
    for (const t of [0, 1]) {
      const s = defaultSettings('slerp', A, `${A}+${LORA}`);
      s.t.curves.self_attn.enabled = false;
      s.t.curves.mlp.enabled = false;
      s.t.fallback = t;
      const out: Record<string, Uint8Array> = {};
      await runMerge({
        config: toMergeConfig(s),
        resolveModel: resolve,
        openSink: async (name) => {
          const parts: Uint8Array[] = [];
          const sink: ByteSink = {
            write: async (c) => void parts.push(c.slice()),
            close: async () => {
              const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
              let o = 0;
              for (const p of parts) (bytes.set(p, o), (o += p.byteLength));
              out[name] = bytes;
            },
          };
          return sink;
        },
      });
      const merged = await openCheckpoint(memoryModelFiles(out, 'merged'));
      const want = t === 1 ? folded : base;
      for (const m of MODULES) {
        const name = `${m}.weight`;
        expect(maxRelDiff(await merged.readF32(name), await want.readF32(name)), `t=${t} ${name}`).toBeLessThanOrEqual(1e-6);
      }
      const other = 'model.layers.0.self_attn.k_proj.weight';
      expect(maxRelDiff(await merged.readF32(other), await base.readF32(other))).toBeLessThanOrEqual(1e-6);
    }
  });

  it('the parents\' distances compare the base with base + adapter: only the adapted tensors move', async () => {
    const { deps } = await setup();
    const d = await parentDistances(deps, 'tiny', { modelId: 'tiny', adapter: { runId: 'run-1', step: 0 } }, new AbortController().signal);
    const moved = d.tensors.filter((t) => t.angleDeg > 1e-3).map((t) => t.name);
    expect(moved.sort()).toEqual(MODULES.map((m) => `${m}.weight`).sort());
    expect(d.skipped).toEqual([]);
  });
});
