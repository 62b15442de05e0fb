// End-to-end: "Load as 4-bit" in the Models panel. The real demo model (stories260K, F32) is cached, loaded as Q8_0
// by the worker (a new cache entry "stories260K Q8_0"), and the card shows both sizes and both quick perplexities
// on held-out general stories; the Q8_0 entry is a quarter of the F32 one and its perplexity within 1% of it.
// Then the Q8_0 entry is refused as a source (it is already blocks), and a cancelled Q4_K_M leaves no entry.
// Run after a build: `npm run build && npx vitest run --project browser tests/e2e/quantize.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DIST, listModels, openStudio, requireBuild, WAIT, watchConsole } from './studio-steps.ts';

const REPO = 'alloy-demo/stories260K';

let site: RunningServer;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];

describe('load as 4-bit in Chromium', () => {
  beforeAll(async () => {
    requireBuild('hub/alloy-demo', 'demo/village/general.jsonl');
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watchConsole(page, uncaught);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('caches stories260K, loads it as Q8_0, and shows both sizes and perplexities', async () => {
    await openStudio(page, site.url);
    await page.getByTestId('load-demo-real').click();
    await page.getByTestId('cached-model').filter({ hasText: `${REPO}@main` }).waitFor({ timeout: WAIT });
    const card = page.getByTestId('quantize-card');
    await card.waitFor({ timeout: WAIT });
    await card.getByTestId('quant-type').selectOption('q8_0');
    await card.getByTestId('quant-start').click();
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-testid="quant-new"] [data-testid="quant-ppl"]')?.textContent ?? ''), undefined, { timeout: WAIT });
    await expect(page.getByTestId('error-box').count()).resolves.toBe(0);

    const cell = (row: string, what: string) => card.getByTestId(row).getByTestId(what).innerText();
    const ppl = async (row: string) => Number((await cell(row, 'quant-ppl')).split(' ')[0]);
    const [src, q8] = [await ppl('quant-source'), await ppl('quant-new')];
    console.log(`stories260K f32 ${await cell('quant-source', 'quant-size')} ppl ${src}; Q8_0 ${await cell('quant-new', 'quant-size')} ppl ${q8}`);
    expect(src).toBeGreaterThan(1);
    expect(Math.abs(q8 / src - 1)).toBeLessThan(0.01);
    await expect(card.getByTestId('quant-types').innerText()).resolves.toMatch(/Q8_0 × \d+/);
    await expect(card.getByTestId('quant-kept').innerText()).resolves.toContain('norm or bias (never quantised)');

    const models = await listModels(page);
    const source = models.find((m) => m.repo === REPO)!;
    const made = models.find((m) => m.label === 'stories260K Q8_0');
    expect(made).toBeDefined();
    const sizes = (await page.evaluate(() => (globalThis as unknown as { alloyDebug: { listModels(): Promise<{ id: string; totalBytes: number }[]> } }).alloyDebug.listModels())).filter(
      (m) => m.id === source.id || m.id === made!.id,
    );
    const bytes = (id: string) => sizes.find((m) => m.id === id)!.totalBytes;
    // weights go from 4 bytes to 34/32 bytes a weight (the tokenizer and config are copied as they were)
    expect(bytes(made!.id) / bytes(source.id)).toBeLessThan(0.4);
    await expect(page.getByTestId('cached-model').filter({ hasText: 'stories260K Q8_0' }).getByTestId('model-source').innerText()).resolves.toContain('quantised here');
    await screenshot(page, 'quantize-01-q8_0');
    // the card and its table stay on a phone-width screen
    await page.setViewportSize({ width: 390, height: 844 });
    await expect(page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).resolves.toBe(true);
    await screenshot(page, 'quantize-02-narrow');
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(uncaught).toEqual([]);
  });

  it('refuses to quantise a quantised model, naming the tensor, and keeps nothing', async () => {
    const before = (await listModels(page)).map((m) => m.id).sort();
    await page.getByTestId('cached-model').filter({ hasText: 'stories260K Q8_0' }).getByTestId('inspect').click();
    const card = page.getByTestId('quantize-card');
    await card.getByTestId('quant-type').selectOption('q4_0');
    await card.getByTestId('quant-start').click();
    await card.getByTestId('error-box').waitFor({ timeout: WAIT });
    await expect(card.getByTestId('error-message').innerText()).resolves.toMatch(/"model\.embed_tokens\.weight" is already Q8_0 blocks/);
    await card.getByTestId('error-dismiss').click();
    expect((await listModels(page)).map((m) => m.id).sort()).toEqual(before);
  });

  it('a cancelled quantisation leaves no new cache entry', async () => {
    type Debug = { slowQuantize(ms: number): void; listPartials(): Promise<unknown[]> };
    const before = (await listModels(page)).map((m) => m.id).sort();
    const source = (await listModels(page)).find((m) => m.repo === REPO)!;
    await page.locator(`[data-testid="cached-model"][data-model-id="${source.id}"]`).getByTestId('inspect').click();
    await page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.slowQuantize(200));
    const card = page.getByTestId('quantize-card');
    await card.getByTestId('quant-type').selectOption('q4_k_m');
    await card.getByTestId('quant-start').click();
    await page.waitForFunction(() => /^[1-9]\d* \/ \d+/.test(document.querySelector('[data-testid="quantize-card"] [data-testid="progress-text"]')?.textContent?.trim() ?? ''), null, { timeout: WAIT });
    await card.getByTestId('cancel-job').click();
    await card.getByTestId('quant-notice').filter({ hasText: 'Nothing was kept' }).waitFor({ timeout: WAIT });
    await page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.slowQuantize(0));
    expect((await listModels(page)).map((m) => m.id).sort()).toEqual(before);
    await expect(page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.listPartials())).resolves.toEqual([]);
    expect(uncaught).toEqual([]);
  });
});
