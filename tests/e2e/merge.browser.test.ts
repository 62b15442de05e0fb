// End-to-end: the Merge panel of the built studio in Chromium (WebGPU on SwiftShader). Caches tiny-llama,
// tiny-llama-bf16 and tiny-qwen2 from the site's own demo hub, refuses the Llama × Qwen2 pair, edits a SLERP t
// gradient with the keyboard and the mouse, merges, and compares every tensor of the merged cache entry bit for
// bit with `alloy merge` run here in Node on the same fixture folders and the same YAML. Then: a cancel mid-merge
// leaves no entry, and a 3-point t sweep streams a 3-point score curve with both parents marked.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/merge.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DEMO, DIST, WAIT, cacheDemo, cacheFromHub, idOf, listModels, openStudio, requireBuild, watchConsole } from './studio-steps.ts';
import { main } from '../../src/cli/main.ts';
import { parseMergeYaml, toMergeYaml } from '../../src/engine/merge/config.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';

const LLAMA = DEMO;
const BF16 = 'alloy-fixtures/tiny-llama-bf16';
const QWEN = 'alloy-fixtures/tiny-qwen2';
const fixtureDir = (repo: string) => resolve('public/hub', repo, 'resolve', 'main');

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
const uncaught: string[] = [];

type Debug = {
  readTensors(id: string): Promise<{ name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]>;
  listPartials(): Promise<unknown[]>;
  slowMerges(ms: number): void;
};

describe('Merge panel in Chromium', () => {
  beforeAll(async () => {
    requireBuild('hub', 'benchmarks');
    tmp = mkdtempSync(join(tmpdir(), 'alloy-merge-e2e-'));
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    watchConsole(page, uncaught);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('caches three fixtures and refuses to merge Llama with Qwen2', async () => {
    await openStudio(page, site.url);
    await cacheDemo(page);
    await cacheFromHub(page, site.url, BF16);
    await cacheFromHub(page, site.url, QWEN);

    await page.getByTestId('tab-merge').click();
    await page.getByTestId('merge-parent-a').waitFor();
    await page.getByTestId('merge-parent-a').selectOption(await idOf(page, LLAMA));
    await page.getByTestId('merge-parent-b').selectOption(await idOf(page, QWEN));
    const refusal = page.getByTestId('merge-refusal');
    await refusal.waitFor({ timeout: WAIT });
    await expect(refusal.innerText()).resolves.toMatch(/LlamaForCausalLM.*Qwen2ForCausalLM: different architectures/s);
    await expect(page.getByTestId('merge-run').isDisabled()).resolves.toBe(true);
  });

  let yaml = '';
  let mergedId = '';

  it('sets up a SLERP with a t gradient by keyboard and mouse; the YAML follows', async () => {
    await page.getByTestId('merge-parent-b').selectOption(await idOf(page, BF16));
    await page.getByTestId('merge-refusal').waitFor({ state: 'detached', timeout: WAIT });
    await page.getByTestId('merge-base-a').check();
    await expect(page.getByTestId('merge-method').inputValue()).resolves.toBe('slerp');
    await page.getByTestId('distance-compute').click();
    await page.getByTestId('distance-chart').waitFor({ timeout: WAIT });
    await expect(page.getByTestId('distance-point').count()).resolves.toBe(4); // 2 layers × (attention, MLP)
    await screenshot(page, 'merge-01-setup');

    // Keyboard: first self_attn anchor up twice (0 → 0.1), then add an anchor (+) and nudge it.
    const a0 = page.getByTestId('anchor-self_attn-0');
    await a0.focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await expect(a0.getAttribute('aria-valuenow')).resolves.toBe('0.1');
    const before = await page.getByTestId('curve-self_attn-anchors').innerText();
    await page.keyboard.press('+');
    await expect(page.locator('[data-testid^="anchor-self_attn-"]').count()).resolves.toBe(6);
    await page.keyboard.press('ArrowDown');
    expect(await page.getByTestId('curve-self_attn-anchors').innerText()).not.toBe(before);

    // Mouse: drag the last mlp anchor (t = 0) up.
    const last = page.getByTestId('anchor-mlp-4');
    const box = (await last.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, box.y - 40, { steps: 5 });
    await page.mouse.up();
    expect(Number(await last.getAttribute('aria-valuenow'))).toBeGreaterThan(0.2);

    yaml = await page.getByTestId('merge-yaml').innerText();
    const { config } = parseMergeYaml(yaml);
    expect(config.mergeMethod).toBe('slerp');
    expect(config.baseModel).toBe(LLAMA);
    expect(JSON.stringify(config.parameters?.t)).toContain('self_attn');
    // the squares drawn per layer are the t the merge gives each layer (2 layers: first and last anchor)
    const mlpValues = JSON.parse((await page.getByTestId('layer-t-mlp').getAttribute('data-values'))!) as number[];
    expect(mlpValues).toHaveLength(2);
    expect(mlpValues[1]).toBe(Number(await last.getAttribute('aria-valuenow')));
    await screenshot(page, 'merge-02-curve');
  });

  it('merges into a new cached model whose tensors equal the CLI merge bit for bit', async () => {
    const n0 = (await listModels(page)).length;
    await page.getByTestId('merge-run').click();
    const result = page.getByTestId('merge-result');
    await result.waitFor({ timeout: WAIT });
    mergedId = (await result.getAttribute('data-model-id'))!;
    expect((await listModels(page)).length).toBe(n0 + 1);
    // the merged entry carries the YAML it was made from
    expect((await page.getByTestId('merged-yaml').innerText()).trim()).toBe(yaml.trim());

    const fromUi = await page.evaluate(async (id) => {
      const ts = await (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.readTensors(id);
      return ts.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: Array.from(t.bytes) }));
    }, mergedId);

    // The same YAML through `alloy merge`, with the model names pointing at the fixture folders.
    const { config } = parseMergeYaml(yaml);
    const dir = (ref: string) => ({ [LLAMA]: fixtureDir(LLAMA), [BF16]: fixtureDir(BF16) })[ref]!;
    config.baseModel = dir(config.baseModel!);
    config.models = config.models!.map((m) => ({ ...m, model: dir(m.model) }));
    const yamlPath = join(tmp, 'merge.yml');
    writeFileSync(yamlPath, toMergeYaml(config));
    const out = join(tmp, 'cli-out');
    let err = '';
    const rc = await main(['merge', yamlPath, '--out', out], { out: () => {}, err: (s) => void (err += s) });
    expect(rc, err).toBe(0);
    const cli = await openCheckpoint(dirModelFiles(out));
    expect(fromUi.map((t) => t.name).sort()).toEqual(cli.names().sort());
    for (const t of fromUi) {
      const info = cli.info(t.name);
      expect(t.dtype, t.name).toBe(String(info.dtype));
      expect(t.shape, t.name).toEqual([...info.shape]);
      const bytes = await cli.readRaw(t.name);
      expect(Buffer.from(Uint8Array.from(t.bytes)).equals(Buffer.from(bytes)), `${t.name} differs`).toBe(true);
    }
    expect(fromUi.length).toBeGreaterThan(10);
  });

  it('a cancelled merge leaves no new cache entry', async () => {
    const before = (await listModels(page)).map((m) => m.id).sort();
    await page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.slowMerges(250));
    await page.getByTestId('merge-run').click();
    // wait until some tensors are written, then cancel
    await page.waitForFunction(() => /^[1-9]\d* \/ \d+/.test(document.querySelector('[data-testid="progress-text"]')?.textContent?.trim() ?? ''), null, { timeout: WAIT });
    await page.getByTestId('cancel-job').click();
    await page.getByTestId('merge-notice').filter({ hasText: 'cancelled' }).waitFor({ timeout: WAIT });
    await page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.slowMerges(0));
    expect((await listModels(page)).map((m) => m.id).sort()).toEqual(before);
    await expect(page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.listPartials())).resolves.toEqual([]);
  });

  it('runs a 3-point t sweep and draws a 3-point score curve with both parents marked', async () => {
    const before = (await listModels(page)).length;
    await page.getByTestId('sweep-ts').fill('0, 0.5, 1');
    await page.getByTestId('sweep-run').click();
    await page.getByTestId('sweep-notice').filter({ hasText: 'Sweep done' }).waitFor({ timeout: 150_000 });
    await expect(page.getByTestId('sweep-point').count()).resolves.toBe(3);
    const markers = page.getByTestId('sweep-chart').getByTestId('chart-marker');
    await expect(markers.count()).resolves.toBe(2);
    await expect(markers.first().getAttribute('data-label')).resolves.toBe('base');
    for (const p of await page.getByTestId('sweep-point').all()) {
      const acc = Number(await p.getAttribute('data-y'));
      expect(acc).toBeGreaterThanOrEqual(0);
      expect(acc).toBeLessThanOrEqual(1);
    }
    // temporary merges are gone again
    expect((await listModels(page)).length).toBe(before);
    await page.getByTestId('sweep-chart').scrollIntoViewIfNeeded();
    await screenshot(page, 'merge-03-sweep');
    expect(uncaught).toEqual([]);
  }, 200_000);
});
