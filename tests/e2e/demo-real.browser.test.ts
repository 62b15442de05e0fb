// End-to-end: the studio's real demo model, karpathy's stories260K, served by the built site in the hub layout
// (public/demo/stories260K → dist/hub/alloy-demo/stories260K). One click caches it, Chat loads it on the GPU (WebGPU
// on SwiftShader), and greedy Generate continues a prefix of llama2.c's own greedy output word for word: the
// weights, the tokenizer and the browser engine agree with llama2.c.
// Run after a build: `npm run build && npx vitest run --project browser tests/e2e/demo-real.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { watchConsole } from './studio-steps.ts';

const DIST = join(process.cwd(), 'dist');
const REF = resolve(process.cwd(), '../shared/data/models/stories260K/greedy-reference.json');
const WAIT = 60_000;
const REPO = 'alloy-demo/stories260K@main';
const PROMPT = 'Once upon a time, there was a little girl named Lily.';

let site: RunningServer;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];

describe('real demo model (stories260K) in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html')) || !existsSync(join(DIST, 'hub', 'alloy-demo'))) {
      throw new Error(`${DIST} (with dist/hub/alloy-demo) is missing: run \`npm run build\` before the browser tests.`);
    }
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watchConsole(page, uncaught);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('caches stories260K with one click and shows what it is', async () => {
    await page.goto(`${site.url}/?debug`);
    await page.waitForSelector('[data-testid="gpu-badge"][data-status="ok"]', { timeout: WAIT });
    await page.getByTestId('load-demo-real').click();
    const row = page.getByTestId('cached-model').filter({ hasText: REPO });
    await row.waitFor({ timeout: WAIT });
    await expect(page.getByTestId('error-box').count()).resolves.toBe(0);
    const inspector = page.getByTestId('inspector');
    await inspector.getByTestId('fact-layers').waitFor({ timeout: WAIT });
    await expect(inspector.getByTestId('fact-layers').locator('dd').innerText()).resolves.toBe('5');
    await expect(inspector.getByTestId('fact-architecture').locator('dd').innerText()).resolves.toBe('LlamaForCausalLM');
    await screenshot(page, 'demo-real-01-cached');
  });

  it('continues a prefix of llama2.c\'s greedy output exactly as llama2.c did', async () => {
    const ref = JSON.parse(readFileSync(REF, 'utf8')) as { text: string };
    await page.getByTestId('tab-chat').click();
    await page.getByTestId('chat-model-select').waitFor();
    await expect(page.getByTestId('chat-model-select').locator('option:checked').innerText()).resolves.toContain(REPO);
    await page.getByTestId('chat-load').click();
    await page.waitForSelector('[data-testid="chat-loaded"]:not([data-model-id=""])', { timeout: WAIT });
    // No chat template: the panel offers Generate (plain continuation) only.
    await expect(page.getByTestId('mode-generate').isChecked()).resolves.toBe(true);
    for (const [key, value] of [['temperature', '0'], ['maxTokens', '40']] as const) {
      const input = page.getByTestId(`setting-${key}`);
      await input.fill(value);
      await input.press('Tab');
    }
    await page.getByTestId('chat-input').fill(PROMPT);
    await page.getByTestId('chat-send').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="chat-turn"]:last-child')?.getAttribute('data-status') === 'done', undefined, {
      timeout: WAIT,
    });
    const reply = await page.getByTestId('chat-turn').last().getByTestId('turn-reply').evaluate((el) => el.textContent ?? '');
    expect(reply.length).toBeGreaterThan(80);
    // The continuation keeps the space before its first word ("Lily. She", not "Lily.She").
    expect(reply.startsWith(' She')).toBe(true);
    expect(ref.text.slice(PROMPT.length).startsWith(reply)).toBe(true);
    await screenshot(page, 'demo-real-02-generate');
    expect(uncaught).toEqual([]);
  });
});
