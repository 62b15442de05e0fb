// The studio worker's PEFT adapter import (TrainHost.importAdapter, src/worker/train.ts) on REAL IndexedDB in
// Chromium, through the harness page: a refused adapter (wrong shape, missing file) stores nothing in the run store
// or the checkpoint store; an accepted one is listed where trained runs are (status 'imported', one checkpoint),
// exports again as the same files, folds into a complete cache entry, and deletes without leaving chunks behind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ensureHarness, HARNESS_DIR } from '../helpers/harness.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { ensureFixtures } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/config.ts';
import { unzipStore } from '../../src/io/zip.ts';
import type { FileSpec } from '../browser/harness/harness.ts';
import { peftAdapter } from '../helpers/peft-adapter.ts';

const MODEL = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const Q0 = 'model.layers.0.self_attn.q_proj';
const UP1 = 'model.layers.1.mlp.up_proj';

let browser: Browser;
let page: Page;
let site: RunningServer;
let cfg: ModelConfig;
let modelId: string;

const specs = (files: Record<string, Uint8Array>, folder: string): FileSpec[] =>
  Object.entries(files).map(([n, b]) => ({ rel: `${folder}/${n}`, base64: Buffer.from(b).toString('base64') }));
const stored = () => page.evaluate(() => window.alloyHarness.adapters.stored());

beforeAll(async () => {
  await ensureFixtures();
  await ensureHarness();
  cfg = parseModelConfig(await readJson(dirModelFiles(MODEL), 'config.json'));
  site = await serveStatic(HARNESS_DIR);
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`${site.url}/index.html`);
  await page.waitForFunction(() => window.alloyHarnessReady === true);
  const names = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
  const model = names.map((n) => ({ rel: `tiny-llama/${n}`, base64: readFileSync(join(MODEL, n)).toString('base64') }));
  const r = await page.evaluate((files) => window.alloyHarness.cache({ kind: 'folder', name: 'tiny-llama', files }), model);
  if (!r.ok) throw new Error(r.error.message);
  modelId = r.summary.id;
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
});

describe('PEFT adapter import on real IndexedDB', () => {
  it('refuses a shape that does not fit or a missing file, and stores nothing', async () => {
    const a = `base_model.model.${Q0}.lora_A.weight`;
    const bad = await peftAdapter(cfg, { r: 4, alpha: 8, modules: [Q0], shapes: { [a]: [4, 48] } });
    const r = await page.evaluate(([id, files]) => window.alloyHarness.adapters.import(id, 'bad', files), [modelId, specs(bad, 'bad')] as const);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toBe(`adapter_model.safetensors: "${a}" is [4, 48], but folder tiny-llama's "${Q0}.weight" is [64, 64]: lora_A must be [4, 64]`);
      expect(r.error.where).toMatchObject({ file: 'adapter_model.safetensors', tensor: a });
    }
    const good = await peftAdapter(cfg, { r: 4, alpha: 8, modules: [Q0] });
    const half = { 'adapter_config.json': good['adapter_config.json'] };
    const m = await page.evaluate(([id, files]) => window.alloyHarness.adapters.import(id, 'half', files), [modelId, specs(half, 'half')] as const);
    expect(m.ok ? null : m.error.message).toBe('half: no adapter_model.safetensors');
    expect(await stored()).toEqual({ runs: 0, checkpoints: 0, chunks: 0 });
    expect(await page.evaluate(() => window.alloyHarness.adapters.list())).toEqual([]);
  });

  it('lists an accepted adapter beside the runs, exports the same files, folds it, deletes it', async () => {
    const f = await peftAdapter(cfg, { r: 4, alpha: 16, modules: [Q0, UP1], dtype: 'BF16' });
    const r = await page.evaluate(([id, files]) => window.alloyHarness.adapters.import(id, 'my-lora', files), [modelId, specs(f, 'my-lora')] as const);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.value.summary).toBe('r 4, alpha 16, q_proj, up_proj on 2 layers (2 modules), BF16');
    expect(await stored()).toEqual({ runs: 1, checkpoints: 1, chunks: 1 });
    const [run] = await page.evaluate(() => window.alloyHarness.adapters.list());
    expect(run).toMatchObject({
      id: r.value.run.id,
      label: 'my-lora',
      status: 'imported',
      modelId,
      checkpoints: [0],
      settings: { rank: 4, alpha: 16, targets: ['q_proj', 'up_proj'] },
      imported: { files: ['my-lora/adapter_config.json', 'my-lora/adapter_model.safetensors'], modules: 2, dtypes: ['BF16'], useRslora: false },
    });

    const zip = await page.evaluate((id) => window.alloyHarness.adapters.exportZip(id), run!.id);
    expect(zip.fileName).toBe('my-lora-lora.zip');
    const entries = unzipStore(new Uint8Array(Buffer.from(zip.base64, 'base64')));
    expect(entries.map((e) => e.name)).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(Buffer.from(entries[0]!.data).equals(Buffer.from(f['adapter_config.json']))).toBe(true);
    expect(Buffer.from(entries[1]!.data).equals(Buffer.from(f['adapter_model.safetensors']))).toBe(true);

    const entry = await page.evaluate((id) => window.alloyHarness.adapters.fold(id), run!.id);
    expect(entry.label).toBe('tiny-llama-my-lora');
    const models = await page.evaluate(() => window.alloyHarness.list());
    expect(models.map((m) => m.id)).toContain(entry.id);
    expect((await page.evaluate(() => window.alloyHarness.adapters.list()))[0]!.folded).toEqual([entry.id]);

    await page.evaluate((id) => window.alloyHarness.adapters.delete(id), run!.id);
    expect(await stored()).toEqual({ runs: 0, checkpoints: 0, chunks: 0 });
  });
});
