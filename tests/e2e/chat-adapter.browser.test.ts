// End-to-end: chatting with a stored LoRA adapter applied to the loaded model, in the built studio in Chromium.
// A PEFT adapter for the demo model (written here in Node with PEFT's key names) is imported in the Train panel
// and folded into a new cached model there; in Chat the base model is loaded once, and the adapter is applied,
// switched off (the base again) and on without reloading. Greedy replies (Generate mode, so every turn stands
// alone) with the adapter applied equal the folded model's; with it off they equal the base's; each reply is
// labelled with the adapter used. Screenshots in test-results/.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/chat-adapter.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DEMO, DIST, WAIT, cacheDemo, idOf, importAdapterFolder, openStudio, requireBuild, watchConsole } from './studio-steps.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { peftAdapter } from '../helpers/peft-adapter.ts';

const MODEL_DIR = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const MODULES = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.mlp.down_proj'];
const PROMPT = 'Once upon a time';

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
let baseId = '';
let foldedId = '';
const uncaught: string[] = [];
/** greedy continuations of PROMPT */
const replies: { base?: string; adapter?: string } = {};

const turns = () => page.getByTestId('chat-turn');
const replyText = (turn: Locator) => turn.getByTestId('turn-reply').evaluate((el) => el.textContent ?? '');

/** Loads a cached model onto the GPU from the Chat panel and waits until it is resident. */
async function loadInChat(id: string): Promise<void> {
  await page.getByTestId('tab-chat').click();
  await page.getByTestId('chat-model-select').selectOption(id);
  await page.getByTestId('chat-load').click();
  await page.waitForSelector(`[data-testid="chat-loaded"][data-model-id="${id}"]`, { timeout: WAIT });
}

/** Generates from PROMPT and waits for the turn to finish; returns it. */
async function generate(): Promise<Locator> {
  const before = await turns().count();
  await page.getByTestId('chat-input').fill(PROMPT);
  await page.getByTestId('chat-send').click();
  await page.waitForFunction(
    (i) => ['done', 'error'].includes(document.querySelectorAll('[data-testid="chat-turn"]')[i]?.getAttribute('data-status') ?? ''),
    before,
    { timeout: WAIT },
  );
  const turn = turns().nth(before);
  if ((await turn.getAttribute('data-status')) === 'error') throw new Error(await page.getByTestId('error-box').innerText());
  return turn;
}

/** Waits until the picker says which adapter the worker applies ('' = none). */
async function waitActive(runId: string): Promise<void> {
  await page.waitForSelector(`[data-testid="chat-adapter-active"][data-run-id="${runId}"]`, { timeout: WAIT });
}

describe('Chat with a stored adapter', () => {
  beforeAll(async () => {
    requireBuild('hub');
    tmp = mkdtempSync(join(tmpdir(), 'alloy-chat-adapter-e2e-'));
    const cfg = parseModelConfig(await readJson(dirModelFiles(MODEL_DIR), 'config.json'));
    const dir = join(tmp, 'story-lora');
    mkdirSync(dir);
    for (const [n, b] of Object.entries(await peftAdapter(cfg, { r: 4, alpha: 8, modules: MODULES, seed: 21 }))) writeFileSync(join(dir, n), b);
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    watchConsole(page, uncaught);
    await openStudio(page, site.url);
    await cacheDemo(page);
    baseId = await idOf(page, DEMO);
    await importAdapterFolder(page, dir, baseId);
    // the folded model is what the adapter applied in Chat must reproduce
    await page.locator('[data-testid="train-run"][data-status="imported"]').filter({ hasText: 'story-lora' }).getByTestId('train-run-fold').click();
    await page.getByTestId('train-folded').waitFor({ timeout: WAIT });
    foldedId = (await page.getByTestId('train-folded').getAttribute('data-model-id'))!;
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the folded model\'s greedy continuation, for reference', async () => {
    await loadInChat(foldedId);
    // a folded model is a model of its own: no adapters were made for it
    await expect(page.getByTestId('chat-adapter-active').innerText()).resolves.toContain('No adapters for this model yet');
    await page.getByTestId('setting-temperature').fill('0');
    await page.getByTestId('setting-temperature').press('Tab');
    await page.getByTestId('setting-maxTokens').fill('16');
    await page.getByTestId('setting-maxTokens').press('Tab');
    await page.getByTestId('mode-generate').check();
    const turn = await generate();
    replies.adapter = await replyText(turn);
    expect(replies.adapter.length).toBeGreaterThan(0);
    await page.getByTestId('chat-clear').click();
  });

  it('lists the adapter for the base model and applies it without reloading: replies are the folded model\'s', async () => {
    await loadInChat(baseId);
    await page.getByTestId('mode-generate').check();
    const base = await generate();
    replies.base = await replyText(base);
    await expect(base.getByTestId('turn-adapter').innerText()).resolves.toBe('base model');

    const select = page.getByTestId('chat-adapter-select');
    const options = await select.locator('option').allInnerTexts();
    expect(options).toEqual(['none (base model)', 'story-lora · imported']);
    await select.selectOption({ label: 'story-lora · imported' });
    const runId = (await select.inputValue()).split('@')[0]!;
    await waitActive(runId);
    await expect(page.getByTestId('chat-adapter-active').innerText()).resolves.toBe(
      'Replies use story-lora (imported: r 4, alpha 8, q_proj, v_proj, down_proj, 3 modules).',
    );
    // the same model stays on the GPU: the adapter goes on beside its weights
    await expect(page.getByTestId('chat-loaded').getAttribute('data-model-id')).resolves.toBe(baseId);

    const withAdapter = await generate();
    await expect(withAdapter.getByTestId('turn-adapter').innerText()).resolves.toBe('LoRA: story-lora');
    await expect(withAdapter.getByTestId('turn-adapter').getAttribute('data-run-id')).resolves.toBe(runId);
    await expect(replyText(withAdapter)).resolves.toBe(replies.adapter);
    console.log(`greedy "${PROMPT}": base ${JSON.stringify(replies.base)}; with story-lora ${JSON.stringify(replies.adapter)}`);
  });

  it('Apply off compares with the base (the choice is kept), on again applies it', async () => {
    await page.getByTestId('chat-adapter-apply').uncheck();
    await waitActive('');
    await expect(page.getByTestId('chat-adapter-select').locator('option:checked').innerText()).resolves.toBe('story-lora · imported');
    const off = await generate();
    await expect(off.getByTestId('turn-adapter').innerText()).resolves.toBe('base model');
    await expect(replyText(off)).resolves.toBe(replies.base);

    await page.getByTestId('chat-adapter-apply').check();
    const runId = (await page.getByTestId('chat-adapter-select').inputValue()).split('@')[0]!;
    await waitActive(runId);
    const on = await generate();
    await expect(on.getByTestId('turn-adapter').innerText()).resolves.toBe('LoRA: story-lora');
    await expect(replyText(on)).resolves.toBe(replies.adapter);
    await expect(turns().count()).resolves.toBe(4);
    await screenshot(page, 'chat-adapter-compare');
  });

  it('"none" goes back to the base model; loading another model drops the adapter', async () => {
    await page.getByTestId('chat-adapter-select').selectOption('');
    await waitActive('');
    await expect(page.getByTestId('chat-adapter-apply').count()).resolves.toBe(0);
    await expect(page.getByTestId('chat-adapter-active').innerText()).resolves.toBe('Replies use the base model.');
    await page.getByTestId('chat-adapter-select').selectOption({ label: 'story-lora · imported' });
    await waitActive((await page.getByTestId('chat-adapter-select').inputValue()).split('@')[0]!);
    await loadInChat(foldedId);
    await waitActive('');
    await expect(page.getByTestId('chat-adapter-select').inputValue()).resolves.toBe('');
    expect(uncaught).toEqual([]);
  });
});
