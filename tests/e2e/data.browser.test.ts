// End-to-end: the Data panel of the built studio in Chromium. A JSONL file with malformed lines is dropped on the
// panel: every bad line is listed with its number and reason while the good rows are previewed, the shape and the
// methods it fits are shown; with the demo model chosen the worker tokenises the rows and the page's token counts
// and histogram equal the same computation here in Node with the same tokenizer; the seeded split matches the
// trainer's; the dataset is saved, found again after a page reload, opened, picked in the Train panel (its plan
// reads the saved rows with the saved split) and deleted; a built-in demo file in one click and a CSV with a broken
// record through the file picker. Screenshots in test-results/.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/data.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DEMO, DIST, WAIT, cacheDemo, idOf, openStudio, requireBuild, watchConsole } from './studio-steps.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { inspectDataset } from '../../src/io/datasets/inspect.ts';
import { histogram, rowTokenCounts, tokenStats } from '../../src/io/datasets/stats.ts';
import { splitIndices } from '../../src/io/datasets/split.ts';

const MODEL_DIR = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const NAME = 'my-sft.jsonl';
const SEQ_LEN = 140; // between the shortest and the longest row of the demo model's tokenisation

// eight good {prompt, completion} rows from the demo file, a broken line 3 and a row of another shape on line 7
const good = readFileSync('public/demo/data/sft.jsonl', 'utf8').trim().split('\n').slice(0, 8);
const LINES = [good[0], good[1], '{"prompt": "Why is bone tough?", "completion": ', good[2], good[3], good[4], '{"text": "a paragraph"}', good[5], good[6], good[7]];
const TEXT = LINES.join('\n') + '\n';

let site: RunningServer;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];

async function drop(name: string, text: string): Promise<void> {
  await page.evaluate(
    ({ name, text }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], name, { type: 'application/jsonl' }));
      const zone = document.querySelector('[data-testid="data-drop"]')!;
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { name, text },
  );
}

const attr = async (testid: string, name: string) => page.getByTestId(testid).getAttribute(name);

describe('Data panel in Chromium', () => {
  beforeAll(async () => {
    requireBuild('hub', 'demo/data/sft.jsonl');
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    watchConsole(page, uncaught);
    await openStudio(page, site.url);
    await cacheDemo(page);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('a dropped JSONL: bad lines listed with numbers and reasons, good rows previewed, shape and methods shown', async () => {
    await page.getByTestId('tab-data').click();
    await drop(NAME, TEXT);
    await page.getByTestId('data-summary').waitFor({ timeout: WAIT });
    expect(await attr('data-shape', 'data-shape')).toBe('prompt-completion');
    expect(await page.getByTestId('data-shape').textContent()).toBe('Prompt / completion');
    expect(await attr('data-rows', 'data-rows')).toBe('8');
    const fits = await page.$$eval('[data-testid="data-methods"] [data-method]', (els) => els.map((e) => `${(e as HTMLElement).dataset.method}:${(e as HTMLElement).dataset.fits}`));
    expect(fits).toEqual(['cpt:false', 'sft:true', 'dpo:false', 'ipo:false', 'orpo:false']);

    expect(await attr('data-issues', 'data-count')).toBe('2');
    const issues = await page.getByTestId('data-issue').allTextContents();
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatch(/^line 3: not valid JSON/);
    expect(issues[1]).toMatch(/^line 7: this row is Plain text \{text\}, but the file's rows are Prompt \/ completion/);
    const lines = await page.$$eval('[data-testid="data-preview-row"]', (els) => els.map((e) => Number((e as HTMLElement).dataset.line)));
    expect(lines).toEqual([1, 2, 4, 5, 6, 8, 9, 10]);
    const header = await page.$$eval('[data-testid="data-preview"] thead th', (els) => els.map((e) => e.textContent));
    expect(header).toEqual(['line', 'prompt', 'completion']);
  });

  it('token counts with the demo model equal the same tokenizer in Node; the histogram bins too', async () => {
    await page.getByTestId('data-seqlen').fill(String(SEQ_LEN));
    await page.getByTestId('data-model').selectOption(await idOf(page, DEMO));
    await page.getByTestId('data-token-stats').waitFor({ timeout: WAIT });

    const files = dirModelFiles(MODEL_DIR);
    const tok = await loadTokenizer(files);
    const cfg = parseModelConfig(await readJson(files, 'config.json'), 'config.json');
    const insp = inspectDataset(TEXT, NAME);
    const counts = rowTokenCounts('sft', insp.rows, tok, cfg.vocabSize, NAME);
    expect(counts.issueCount).toBe(0);
    const s = tokenStats(counts.rows, SEQ_LEN);
    expect(s.over).toBeGreaterThan(0); // the length was chosen so some rows are cut, not all
    expect(s.over).toBeLessThan(s.rows);
    const shown = await page.getByTestId('data-token-stats').evaluate((e) => ({ ...(e as HTMLElement).dataset }));
    expect(shown).toEqual({
      testid: 'data-token-stats',
      total: String(s.total),
      min: String(s.min),
      median: String(s.median),
      max: String(s.max),
      over: String(s.over),
      rows: String(s.rows),
    });
    const bins = await page.$$eval('[data-testid="data-histogram-bin"]', (els) =>
      els.map((e) => ({ lo: Number((e as HTMLElement).dataset.lo), hi: Number((e as HTMLElement).dataset.hi), count: Number((e as HTMLElement).dataset.count) })),
    );
    expect(bins).toEqual(histogram(counts.rows.map((r) => r.longest), 24));
  });

  it('the split is the seeded shuffle (same rows as the trainer would hold out), counts shown', async () => {
    await page.getByTestId('data-split-fraction').fill('0.25');
    await page.getByTestId('data-split-seed').fill('3');
    const want = splitIndices(8, 0.25, 3);
    await page.waitForSelector(`[data-testid="data-split"][data-val="${want.val.length}"][data-train="${want.train.length}"]`, { timeout: WAIT });
    expect(want.val).toHaveLength(2);
    await screenshot(page, 'data-panel');
  });

  it('saved (without the bad rows), listed again after a reload, opened and deleted', async () => {
    await page.getByTestId('data-save').click();
    await page.getByTestId('data-notice').waitFor({ timeout: WAIT });
    expect(await page.getByTestId('data-notice').textContent()).toMatch(/Saved my-sft\.clean\.jsonl \(8 rows\), without the 2 bad rows/);

    await openStudio(page, site.url);
    await page.getByTestId('tab-data').click();
    const row = page.getByTestId('data-stored').filter({ hasText: 'my-sft.clean.jsonl' });
    await row.waitFor({ timeout: WAIT });
    expect(await row.textContent()).toMatch(/Prompt \/ completion · 8 rows/);
    expect(await row.textContent()).toMatch(/validation 0\.25 \(seed 3\)/);

    await row.getByTestId('data-stored-open').click();
    await page.getByTestId('data-summary').waitFor({ timeout: WAIT });
    expect(await attr('data-rows', 'data-rows')).toBe('8');
    expect(await page.getByTestId('data-issues').count()).toBe(0);
    expect(await page.getByTestId('data-split-fraction').inputValue()).toBe('0.25');
    await screenshot(page, 'data-panel-reopened');

    // the Train panel offers it among its data (for the methods its shape trains), with the saved split's fraction
    const id = await row.getAttribute('data-id');
    await page.getByTestId('tab-train').click();
    await page.getByTestId('train-method-sft').check();
    await page.getByTestId('train-data-select').selectOption(`stored:${id}`);
    const stats = page.getByTestId('train-dataset-stats');
    await page.waitForSelector('[data-testid="train-dataset-stats"][data-rows="6"]', { timeout: WAIT });
    expect(await stats.textContent()).toMatch(/my-sft\.clean\.jsonl/);
    expect(await stats.getAttribute('data-shape')).toBe('prompt-completion');
    expect(await page.getByTestId('train-val-split').inputValue()).toBe('0.25');
    await page.getByTestId('tab-data').click();

    await row.getByTestId('data-stored-delete').click();
    await page.getByTestId('data-stored-empty').waitFor({ timeout: WAIT });
  });

  it('a built-in demo file in one click (preference pairs, counted as ORPO) and a CSV through the file picker', async () => {
    await page.getByTestId('data-demo-preference.jsonl').click();
    await page.waitForSelector('[data-testid="data-summary"][data-file="preference.jsonl"]', { timeout: WAIT });
    expect(await attr('data-shape', 'data-shape')).toBe('preference');
    expect(await attr('data-rows', 'data-rows')).toBe('30');
    expect(await page.getByTestId('data-issues').count()).toBe(0);
    await page.getByTestId('data-model').selectOption(await idOf(page, DEMO));
    await page.getByTestId('data-method').selectOption('orpo');
    const files = dirModelFiles(MODEL_DIR);
    const text = readFileSync('public/demo/data/preference.jsonl', 'utf8');
    const counts = rowTokenCounts('orpo', inspectDataset(text, 'preference.jsonl').rows, await loadTokenizer(files), 384, 'preference.jsonl');
    const s = tokenStats(counts.rows, SEQ_LEN);
    await page.waitForSelector(`[data-testid="data-token-stats"][data-total="${s.total}"][data-median="${s.median}"][data-max="${s.max}"]`, { timeout: WAIT });

    const csv = 'prompt,completion\n"What is nacre?"," Mother of pearl."\n"broken, " x\nWhat is bone?, A composite.\n';
    await page.getByTestId('data-file').setInputFiles({ name: 'qa.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.waitForSelector('[data-testid="data-summary"][data-file="qa.csv"]', { timeout: WAIT });
    expect(await attr('data-shape', 'data-shape')).toBe('prompt-completion');
    expect(await attr('data-rows', 'data-rows')).toBe('2');
    const issues = await page.getByTestId('data-issue').allTextContents();
    expect(issues).toEqual([expect.stringMatching(/^line 3: text after a closing quote/)]);
    await screenshot(page, 'data-panel-csv');
    expect(uncaught).toEqual([]);
  });
});
