// End-to-end: the studio as a person meets it (issue 19), in Chromium on the demo model. An imported adapter folded
// twice from its row (progress and result in that row, two distinct short names, lineage in Models), then base ×
// folded merged from the Merge panel, whose YAML names the folded model with a YAML-safe ref (the " + " of the old
// labels read as mergekit's model+lora). The Merge panel's selects stay in their card and its right column on
// screen; every panel at 1440×900 and 390×844 with no horizontal page scroll (screenshots of each in
// test-results/); the models ticked for a benchmark survive a tab switch; a training run cut by a reload is named
// on load and resumed in one click (started with Ctrl+Enter), its loss chart with distinct, readable, nice ticks;
// on stories260K the tokenizer playground shows SentencePiece's space and the sequence length fits the data. No console
// errors or Svelte warnings throughout: it runs on the development build (`npm run build:dev`), where Svelte warns.
// Run after the builds: `npm run build && npm run build:dev && npx vitest run --project browser tests/e2e/ux.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DEMO, WAIT, cacheDemo, idOf, importAdapterFolder, listModels, openStudio, watchConsole } from './studio-steps.ts';
import { parseMergeYaml } from '../../src/engine/merge/config.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { peftAdapter } from '../helpers/peft-adapter.ts';

const MODEL_DIR = resolve('public/hub', DEMO, 'resolve', 'main');
// A development build (`npm run build:dev`): the same studio with Svelte's dev checks, whose warnings (ownership,
// stale assignments) watchConsole turns into failures. ALLOY_DEV_DIST points elsewhere.
const DEV_DIST = process.env.ALLOY_DEV_DIST ? resolve(process.env.ALLOY_DEV_DIST) : join(process.cwd(), 'dist-dev');
const PANELS = ['models', 'chat', 'data', 'train', 'merge', 'benchmark', 'recipe', 'export'];

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
let adapterDir = '';
const problems: string[] = [];

/** The page is no wider than the window (no sideways scroll), and the element widest past it if it is. */
async function overflow(p: Page): Promise<{ doc: number; view: number; widest: string }> {
  return p.evaluate(() => {
    const view = document.documentElement.clientWidth;
    let widest = '';
    let right = view;
    // inside a box that scrolls or clips (the tab bar, a table's card) running past the edge is fine
    const clipped = (el: Element): boolean => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') return true;
      return false;
    };
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > right + 0.5 && !clipped(el)) {
        right = r.right;
        // the element and its ancestors with their widths, to find which box let it through
        const chain: string[] = [];
        for (let a: Element | null = el; a && a !== document.body; a = a.parentElement) {
          chain.push(`${a.tagName.toLowerCase()}${a.getAttribute('data-testid') ? `[${a.getAttribute('data-testid')}]` : ''}.${a.className}:${Math.round(a.getBoundingClientRect().width)}`);
        }
        widest = chain.slice(0, 8).join(' < ');
      }
    }
    return { doc: document.documentElement.scrollWidth, view, widest };
  });
}

const baseLabel = async () => (await listModels(page)).find((m) => m.repo === DEMO)!.label;

async function inside(inner: Locator, outer: Locator): Promise<void> {
  const a = (await inner.boundingBox())!;
  const b = (await outer.boundingBox())!;
  expect(a.x).toBeGreaterThanOrEqual(b.x - 0.5);
  expect(a.x + a.width).toBeLessThanOrEqual(b.x + b.width + 0.5);
}

describe('the studio as a person meets it', () => {
  beforeAll(async () => {
    const missing = ['index.html', 'hub', 'demo/data/sft.jsonl'].filter((f) => !existsSync(join(DEV_DIST, f)));
    if (missing.length) throw new Error(`${DEV_DIST} lacks ${missing.join(', ')}: run \`npm run build:dev\` (a development build, where Svelte prints its warnings) before this test.`);
    tmp = mkdtempSync(join(tmpdir(), 'alloy-ux-e2e-'));
    const cfg = parseModelConfig(await readJson(dirModelFiles(MODEL_DIR), 'config.json'));
    adapterDir = join(tmp, 'story-lora');
    mkdirSync(adapterDir);
    const modules = ['model.layers.1.self_attn.q_proj', 'model.layers.0.mlp.up_proj'];
    for (const [n, b] of Object.entries(await peftAdapter(cfg, { r: 4, alpha: 8, modules, seed: 5 }))) writeFileSync(join(adapterDir, n), b);
    site = await serveStatic(DEV_DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    watchConsole(page, problems);
    await openStudio(page, site.url);
    await cacheDemo(page);
    await importAdapterFolder(page, adapterDir, await idOf(page, DEMO));
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const folded: { id: string; label: string }[] = [];

  it('folds from the run row: progress and result there, the button waits, repeats get distinct short names', async () => {
    const row = page.locator('[data-testid="train-run"][data-status="imported"]').filter({ hasText: 'story-lora' });
    for (const expected of ['tiny-llama-story-lora', 'tiny-llama-story-lora-2']) {
      await row.getByTestId('train-run-fold').click();
      // while it runs the Fold buttons wait; the progress and then the result show in this row
      const state = await page.waitForFunction(
        () => {
          const r = document.querySelector('[data-testid="train-run"][data-status="imported"]');
          if (r?.querySelector('[data-testid="job-progress"]')) return (r.querySelector('[data-testid="train-run-fold"]') as HTMLButtonElement).disabled ? 'progress, disabled' : 'progress, enabled';
          return r?.querySelector('[data-testid="train-folded"]') ? 'done' : null;
        },
        null,
        { timeout: WAIT, polling: 'raf' },
      );
      expect(['progress, disabled', 'done']).toContain(await state.jsonValue());
      const result = row.getByTestId('train-folded');
      await result.waitFor({ timeout: WAIT });
      await expect(page.getByTestId('train-folded').count()).resolves.toBe(1);
      await expect(result.locator('strong').innerText()).resolves.toBe(expected);
      folded.push({ id: (await result.getAttribute('data-model-id'))!, label: expected });
    }
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'ux-fold-in-row');
    // Models lists them under their short names, with where they came from beside the name
    await page.getByTestId('tab-models').click();
    const entry = page.getByTestId('cached-model').filter({ has: page.getByTestId('model-label').getByText(folded[0]!.label, { exact: true }) });
    await expect(entry.getByTestId('model-lineage').innerText()).resolves.toBe(`LoRA story-lora · from ${await baseLabel()}`);
    await expect(entry.getByTestId('model-source').innerText()).resolves.toContain('folded here');
  });

  it('merges the base with a folded model from the Merge panel; the layout stays on screen', async () => {
    await page.getByTestId('tab-merge').click();
    await page.getByTestId('merge-parent-a').waitFor({ timeout: WAIT });
    // opens on a pair it can merge: the base and a model of its shape, no red box
    await expect(page.getByTestId('merge-parent-a').inputValue()).resolves.toBe(await idOf(page, DEMO));
    await expect(page.getByTestId('merge-refusal').count()).resolves.toBe(0);
    // with a model + adapter parent (the longest names) the YAML column and its Copy stay on screen
    const adapterOption = page.getByTestId('merge-parent-b').locator('optgroup[label="Model + adapter"] option').first();
    await page.getByTestId('merge-parent-b').selectOption((await adapterOption.getAttribute('value'))!);
    await expect(page.getByTestId('merge-adapter-note').count()).resolves.toBe(1);
    const copy = (await page.getByTestId('yaml-copy').boundingBox())!;
    expect(copy.x + copy.width).toBeLessThanOrEqual(page.viewportSize()!.width);
    expect(await overflow(page)).toMatchObject({ widest: '' });
    await page.getByTestId('merge-parent-b').selectOption(folded[0]!.id);
    await page.getByTestId('merge-base-a').check();
    const yaml = await page.getByTestId('merge-yaml').innerText();
    const { config } = parseMergeYaml(yaml);
    expect(config.baseModel).toBe(DEMO);
    expect(config.models!.map((m) => m.model)).toEqual([DEMO, 'tiny-llama-story-lora']);
    await expect(page.getByTestId('merge-label').innerText()).resolves.toBe('slerp(tiny-llama, tiny-llama-story-lora)');

    const n0 = (await listModels(page)).length;
    await page.getByTestId('merge-run').click();
    const result = page.getByTestId('merge-result');
    await result.waitFor({ timeout: WAIT });
    expect((await listModels(page)).length).toBe(n0 + 1);
    await expect(result.locator('strong').innerText()).resolves.toBe('slerp(tiny-llama, tiny-llama-story-lora)');

    // the selects fit their card; the right column (Copy, Inspect in Models) is on screen
    const card = page.locator('fieldset.parents');
    await inside(page.getByTestId('merge-parent-a'), card);
    await inside(page.getByTestId('merge-parent-b'), card);
    const view = page.viewportSize()!.width;
    for (const b of [page.getByTestId('yaml-copy'), result.getByRole('button', { name: 'Inspect in Models' }), result.getByRole('button', { name: 'Chat with it' })]) {
      const box = (await b.boundingBox())!;
      expect(box.x + box.width).toBeLessThanOrEqual(view);
    }
    expect(await overflow(page)).toMatchObject({ widest: '' });
    await screenshot(page, 'ux-merge-folded');

    await page.getByTestId('tab-models').click();
    const entry = page.getByTestId('cached-model').filter({ has: page.getByTestId('model-label').getByText('slerp(tiny-llama, tiny-llama-story-lora)', { exact: true }) });
    await expect(entry.getByTestId('model-lineage').innerText()).resolves.toBe(
      `slerp · base ${await baseLabel()} · with tiny-llama-story-lora · t attn [0, 0.5, 0.3, 0.7, 1] · mlp [1, 0.5, 0.7, 0.3, 0] · else 0.5`,
    );
  });

  it('the models ticked for a benchmark stay ticked across a tab switch while they are scored', async () => {
    await page.getByTestId('tab-benchmark').click();
    await page.getByTestId('bench-source-summary').waitFor({ timeout: WAIT });
    const boxes = page.getByTestId('bench-model');
    expect(await boxes.count()).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 3; i++) await boxes.nth(i).check();
    const ticked = async () => (await boxes.evaluateAll((els) => els.filter((e) => (e as HTMLInputElement).checked).map((e) => (e as HTMLElement).dataset.modelId))).sort();
    const before = await ticked();
    expect(before.length).toBeGreaterThanOrEqual(3);
    await page.getByTestId('bench-limit').fill('4');
    await page.getByTestId('bench-run').click();
    await page.getByTestId('tab-models').click();
    await page.getByTestId('tab-benchmark').click();
    await page.getByTestId('bench-model').first().waitFor();
    await expect(ticked()).resolves.toEqual(before);
    // still scoring: stop it (the scores are not what this test is about)
    await page.locator('[data-testid="bench-results"][data-state="running"]').waitFor({ timeout: WAIT });
    await page.getByTestId('cancel-job').click();
    await page.locator('[data-testid="bench-results"][data-state="cancelled"]').waitFor({ timeout: WAIT });
    await expect(ticked()).resolves.toEqual(before);
    // the synergy view's bars (the merge, its two parents, their mean) carry labels that tell them apart
    const bars = page.getByTestId('synergy-scores').getByTestId('bar-label');
    await bars.first().waitFor({ timeout: WAIT });
    const names = await bars.evaluateAll((els) => els.map((e) => e.textContent ?? ''));
    console.log('bar labels', names);
    expect(names.length).toBeGreaterThanOrEqual(3);
    expect(new Set(names).size).toBe(names.length);
  }, 200_000);

  it('Data: the built-in chip is marked only while its file is shown; an empty file is said to be empty', async () => {
    await page.getByTestId('tab-data').click();
    await page.getByTestId('data-demo-sft.jsonl').click();
    await page.waitForSelector('[data-testid="data-summary"][data-file="sft.jsonl"]', { timeout: WAIT });
    await expect(page.getByTestId('data-demo-sft.jsonl').getAttribute('aria-pressed')).resolves.toBe('true');
    await page.getByTestId('data-file').setInputFiles({ name: 'empty.jsonl', mimeType: 'application/json', buffer: Buffer.from('') });
    await page.waitForSelector('[data-testid="data-summary"][data-file="empty.jsonl"]', { timeout: WAIT });
    await expect(page.getByTestId('data-demo-sft.jsonl').getAttribute('aria-pressed')).resolves.toBe('false');
    // not "1 malformed row": the file itself has no rows
    await expect(page.getByTestId('data-file-issue').innerText()).resolves.toBe('empty.jsonl: no rows');
    await expect(page.getByTestId('data-issues').innerText()).resolves.not.toMatch(/malformed/i);
  });

  it('every panel fits 1440×900 and 390×844 without sideways page scroll', async () => {
    const seen: Record<string, { doc: number; view: number; widest: string }> = {};
    for (const [w, h] of [[1440, 900], [390, 844]] as const) {
      await page.setViewportSize({ width: w, height: h });
      for (const p of PANELS) {
        await page.getByTestId(`tab-${p}`).click();
        await page.locator(`#panel-${p}`).waitFor();
        await page.waitForTimeout(300); // lists and charts arrive from the worker
        seen[`${p}@${w}`] = await overflow(page);
        await screenshot(page, `ux-panel-${p}-${w}`);
      }
    }
    console.log(JSON.stringify(seen));
    for (const [k, v] of Object.entries(seen)) expect({ k, ...v }).toEqual({ k, doc: v.view, view: v.view, widest: '' });
  });

  it('a run cut by a reload is named on load and resumes in one click; its loss chart has distinct, readable ticks', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('tab-train').click();
    await page.getByTestId('train-method-sft').check();
    await page.getByTestId('train-data-select').selectOption('sft.jsonl');
    for (const [k, v] of Object.entries({ steps: 8, warmupSteps: 0, lr: 0.001, microBatch: 1, seqLen: 48, evalEvery: 0, checkpointEvery: 2 })) await page.getByTestId(`train-${k}`).fill(String(v));
    await page.getByTestId('train-fits').waitFor({ timeout: WAIT }).catch(async (e: unknown) => {
      await screenshot(page, 'ux-train-not-fitting');
      throw new Error(`${(e as Error).message}\n${await page.locator('[data-testid="train-why"], [data-testid="train-plan-error"], [data-testid^="train-error-"]').allInnerTexts()}`);
    });
    // the primary action from anywhere in the panel (the button is the last thing in tab order)
    await page.getByTestId('train-method-sft').focus();
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="train-progress"]')?.getAttribute('data-step') ?? 0) >= 3, null, { timeout: 170_000 });

    await page.reload();
    await page.waitForSelector('[data-testid="gpu-badge"][data-status="ok"]', { timeout: WAIT });
    const notice = page.getByTestId('interrupted-run');
    await notice.waitFor({ timeout: WAIT });
    await expect(notice.innerText()).resolves.toMatch(/tiny-llama · SFT · sft\.jsonl.*was interrupted at step \d of 8.*last checkpoint is step [2-8]/s);
    await screenshot(page, 'ux-interrupted-run-390');
    await notice.getByTestId('interrupted-run-resume').click();
    await expect(page.getByTestId('tab-train').getAttribute('aria-selected')).resolves.toBe('true');
    await page.waitForSelector('[data-testid="train-progress"][data-status="done"]', { timeout: 170_000 });
    await expect(notice.count()).resolves.toBe(0);

    const chart = page.getByTestId('train-loss-chart');
    const texts = (l: Locator) => l.evaluateAll((els) => els.map((e) => e.textContent ?? ''));
    const ys = await texts(chart.getByTestId('chart-y-tick'));
    const losses = await chart.locator('[data-testid="train-loss-point"]').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.y)));
    console.log('loss range', Math.min(...losses), Math.max(...losses), 'y ticks', ys, 'x ticks', await texts(chart.getByTestId('chart-x-tick')));
    expect(losses.length).toBe(8);
    expect(Math.max(...losses) - Math.min(...losses)).toBeLessThan(0.5); // a narrow range: 1-decimal labels would repeat
    // distinct labels on an evenly spaced nice step (1, 2, 2.5 or 5 × 10^k)
    expect(ys.length).toBeGreaterThanOrEqual(3);
    expect(new Set(ys).size).toBe(ys.length);
    const v = ys.map(Number);
    const step = v[1]! - v[0]!;
    for (let i = 1; i < v.length; i++) expect(v[i]! - v[i - 1]!).toBeCloseTo(step, 9);
    expect([1, 2, 2.5, 5]).toContainEqual(Number((step / 10 ** Math.floor(Math.log10(step))).toFixed(6)));
    // steps are whole numbers
    const xs = await texts(chart.getByTestId('chart-x-tick'));
    expect(xs.every((x) => /^\d+$/.test(x))).toBe(true);
    // tick text is drawn at ~11 px on screen whatever the chart's width (it was ~7 px)
    const px = await chart.getByTestId('chart-y-tick').first().evaluate((e) => e.getBoundingClientRect().height);
    expect(px).toBeGreaterThanOrEqual(10);
    expect(await overflow(page)).toMatchObject({ widest: '' });
    await chart.scrollIntoViewIfNeeded();
    await screenshot(page, 'ux-train-chart-390');
    expect(problems).toEqual([]);
  }, 400_000);

  it('on stories260K (SentencePiece, context 512): the playground shows "▁" as a space, and the sequence length fits the data', async () => {
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.getByTestId('tab-models').click();
    await page.getByTestId('load-demo-real').click();
    const row = page.getByTestId('cached-model').filter({ hasText: 'alloy-demo/stories260K@main' });
    await row.waitFor({ timeout: WAIT });
    await row.getByTestId('inspect').click();
    await page.getByTestId('tokenizer-input').fill('a  cat');
    await page.waitForSelector('[data-testid="tokenizer-ids"][data-for="a  cat"]', { timeout: WAIT });
    // "▁a", "▁", "▁c", "at": the space each "▁" stands for is shown (it was "a", "∅", "c", "at")
    await expect(page.getByTestId('tokenizer-pieces').locator('.piece').allInnerTexts()).resolves.toEqual(['<s>', '␣a', '␣', '␣c', 'at']);

    await page.getByTestId('tab-train').click();
    await page.getByTestId('train-model').selectOption(await idOf(page, 'alloy-demo/stories260K'));
    await page.getByTestId('train-method-sft').check();
    await page.getByTestId('train-data-select').selectOption('sft.jsonl');
    // the default (128) would cut most rows: it grows to the longest row, within the context, and nothing is cut
    await page.waitForFunction(() => Number((document.querySelector('[data-testid="train-seqLen"]') as HTMLInputElement | null)?.value) > 128, null, { timeout: WAIT });
    const seqLen = Number(await page.getByTestId('train-seqLen').inputValue());
    // the plan made with the new length (the one made with 128 said "28 cut at the sequence length")
    await page.waitForFunction((n) => document.querySelector('[data-testid="train-dataset-stats"]')?.textContent?.includes(`longest ${n}`), seqLen, { timeout: WAIT });
    const stats = await page.getByTestId('train-dataset-stats').innerText();
    console.log('seqLen', seqLen, stats);
    expect(seqLen).toBeLessThanOrEqual(512);
    expect(stats).not.toMatch(/cut at the sequence length/);
    expect(stats).toContain(`longest ${seqLen}`);
    // a length typed in is the user's: it stays
    await page.getByTestId('train-seqLen').fill('100');
    await page.waitForFunction(() => document.querySelector('[data-testid="train-dataset-stats"]')?.textContent?.includes('cut at the sequence length'), null, { timeout: WAIT });
    await expect(page.getByTestId('train-seqLen').inputValue()).resolves.toBe('100');
    // also after a visit to another tab (the panel remounts from the session)
    await page.getByTestId('tab-models').click();
    await page.getByTestId('tab-train').click();
    await page.waitForTimeout(1000);
    await expect(page.getByTestId('train-seqLen').inputValue()).resolves.toBe('100');
    expect(problems).toEqual([]);
  });
});
