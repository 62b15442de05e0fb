// End-to-end: a stored LoRA adapter as a merge parent ("model + adapter") in the built studio's Merge panel, in
// Chromium. With only the demo model cached and a PEFT adapter imported for it (written here in Node), the panel
// offers base × base + adapter, shows mergekit's `model: base+lora_path` in its YAML, and merges into a cached model
// whose every tensor equals, bit for bit, `alloy merge` run here on the same YAML with the lora_path pointing at the
// adapter's folder (mergekit's form). Screenshot in test-results/.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/merge-adapter.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DEMO, DIST, WAIT, cacheDemo, idOf, importAdapterFolder, listModels, openStudio, requireBuild, watchConsole } from './studio-steps.ts';
import { main } from '../../src/cli/main.ts';
import { parseMergeYaml, parseModelRef, toMergeYaml } from '../../src/engine/merge/config.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { peftAdapter } from '../helpers/peft-adapter.ts';

const MODEL_DIR = resolve('public/hub', DEMO, 'resolve', 'main');
// where the panel's default t curves give t = 1 on the 2-layer demo (self_attn 0 → 1, mlp 1 → 0): the other parent
const MODULES = ['model.layers.1.self_attn.q_proj', 'model.layers.0.mlp.up_proj'];
const LORA = 'adapters/story-lora';

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
let adapterDir = '';
let baseLabel = '';
const uncaught: string[] = [];

type Debug = { readTensors(id: string): Promise<{ name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]> };

describe('Merge panel: a stored adapter as a "model + adapter" parent', () => {
  beforeAll(async () => {
    requireBuild('hub');
    tmp = mkdtempSync(join(tmpdir(), 'alloy-merge-adapter-e2e-'));
    const cfg = parseModelConfig(await readJson(dirModelFiles(MODEL_DIR), 'config.json'));
    adapterDir = join(tmp, 'story-lora');
    mkdirSync(adapterDir);
    for (const [n, b] of Object.entries(await peftAdapter(cfg, { r: 4, alpha: 8, modules: MODULES, seed: 11 }))) writeFileSync(join(adapterDir, n), b);
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    watchConsole(page, uncaught);
    await openStudio(page, site.url);
    await cacheDemo(page);
    baseLabel = (await listModels(page)).find((m) => m.repo === DEMO)!.label;
    await importAdapterFolder(page, adapterDir, await idOf(page, DEMO));
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  let yaml = '';

  it('offers base × base + adapter with one cached model, and writes model+lora_path in the YAML', async () => {
    await page.getByTestId('tab-merge').click();
    await page.getByTestId('merge-parent-a').waitFor({ timeout: WAIT });
    await expect(page.getByTestId('merge-parent-b').locator('optgroup[label="Model + adapter"] option').allInnerTexts()).resolves.toEqual([
      `${baseLabel} + story-lora`,
    ]);
    // the defaults: A the model, B the model + adapter
    await expect(page.getByTestId('merge-parent-a').locator('option:checked').innerText()).resolves.toBe(baseLabel);
    await expect(page.getByTestId('merge-parent-b').locator('option:checked').innerText()).resolves.toBe(`${baseLabel} + story-lora`);
    await expect(page.getByTestId('merge-refusal').count()).resolves.toBe(0);
    yaml = await page.getByTestId('merge-yaml').innerText();
    const { config } = parseMergeYaml(yaml);
    expect(config.baseModel).toBe(DEMO);
    expect(config.models!.map((m) => m.model)).toEqual([DEMO, `${DEMO}+${LORA}`]);
    await expect(page.getByTestId('merge-adapter-note').innerText()).resolves.toContain(`${LORA} is the stored adapter story-lora`);
    // the parents' distance sees the adapter: only the adapted layers' tensors moved
    await page.getByTestId('distance-compute').click();
    await page.getByTestId('distance-chart').waitFor({ timeout: WAIT });
    await screenshot(page, 'merge-adapter-parent');
  });

  it('merges into a cached model equal, tensor for tensor, to `alloy merge` with the adapter folder as lora_path', async () => {
    await page.getByTestId('merge-run').click();
    const result = page.getByTestId('merge-result');
    await result.waitFor({ timeout: WAIT });
    const id = (await result.getAttribute('data-model-id'))!;
    expect((await page.getByTestId('merged-yaml').innerText()).trim()).toBe(yaml.trim());
    const fromUi = await page.evaluate(async (id) => {
      const ts = await (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.readTensors(id);
      return ts.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: Array.from(t.bytes) }));
    }, id);

    // The same YAML through `alloy merge`, the model pointing at the fixture folder and the lora at the adapter's.
    const { config } = parseMergeYaml(yaml);
    const path = (ref: string) => {
      const { model, lora } = parseModelRef(ref);
      expect(model).toBe(DEMO);
      return lora ? `${MODEL_DIR}+${adapterDir}` : MODEL_DIR;
    };
    config.baseModel = path(config.baseModel!);
    config.models = config.models!.map((m) => ({ ...m, model: path(m.model) }));
    const yamlPath = join(tmp, 'merge.yml');
    writeFileSync(yamlPath, toMergeYaml(config));
    const out = join(tmp, 'cli-out');
    let err = '';
    const rc = await main(['merge', yamlPath, '--out', out], { out: () => {}, err: (s) => void (err += s) });
    expect(rc, err).toBe(0);
    const cli = await openCheckpoint(dirModelFiles(out));
    const base = await openCheckpoint(dirModelFiles(MODEL_DIR));
    expect(fromUi.map((t) => t.name).sort()).toEqual(cli.names().sort());
    const moved: string[] = [];
    for (const t of fromUi) {
      const bytes = await cli.readRaw(t.name);
      expect(t.dtype, t.name).toBe(String(cli.info(t.name).dtype));
      expect(Buffer.from(Uint8Array.from(t.bytes)).equals(Buffer.from(bytes)), `${t.name} differs`).toBe(true);
      if (!Buffer.from(bytes).equals(Buffer.from(await base.readRaw(t.name)))) moved.push(t.name);
    }
    // SLERP of the base with base + adapter moves exactly the adapted weights (the others are SLERPs of equal tensors)
    expect(moved.sort()).toEqual(MODULES.map((m) => `${m}.weight`).sort());
    expect(uncaught).toEqual([]);
  });
});
