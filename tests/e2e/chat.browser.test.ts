// End-to-end: the Chat / Generate panel of the built studio in Chromium (WebGPU on SwiftShader). Loads the demo
// model itself, so it runs on its own. The demo has random weights: assertions are about structure (text appears,
// counts and rates are positive, Stop stops, greedy repeats), never about what the model says.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/chat.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DEMO as DEMO_REPO, DIST, WAIT, cacheDemo, openStudio, requireBuild, watchConsole } from './studio-steps.ts';

const DEMO = `${DEMO_REPO}@main`;

let site: RunningServer;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];

const turns = () => page.getByTestId('chat-turn');
const lastTurn = () => turns().last();
const num = async (l: Locator, attr: string) => Number(await l.getAttribute(attr));
/** The reply as streamed, whitespace included (greedy random weights may well answer with newlines only). */
const replyText = (turn: Locator) => turn.getByTestId('turn-reply').evaluate((el) => el.textContent ?? '');

/** Types into a sampling field and leaves it, which is when the form takes the value. */
async function setSetting(key: string, value: string): Promise<void> {
  const input = page.getByTestId(`setting-${key}`);
  await input.fill(value);
  await input.press('Tab');
  await expect(input.inputValue()).resolves.toBe(value);
}

/** Sends `text` with Enter and waits for the reply to finish; returns the finished turn. */
async function sendAndWait(text: string): Promise<Locator> {
  const before = await turns().count();
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-input').press('Enter');
  const turn = turns().nth(before);
  await page.waitForFunction(
    (i) => ['done', 'error'].includes(document.querySelectorAll('[data-testid="chat-turn"]')[i]?.getAttribute('data-status') ?? ''),
    before,
    { timeout: WAIT },
  );
  if ((await turn.getAttribute('data-status')) === 'error') throw new Error(await page.getByTestId('error-box').innerText());
  console.log(`"${text}": ${await turn.locator('.stats').innerText()}`); // timings, for the record
  return turn;
}

/** Waits until the picker says which model is on the GPU ('' = none). */
async function waitLoaded(loaded: boolean): Promise<void> {
  const sel = loaded ? '[data-testid="chat-loaded"]:not([data-model-id=""])' : '[data-testid="chat-loaded"][data-model-id=""]';
  await page.waitForSelector(sel, { timeout: WAIT });
}

async function memoryBytes(): Promise<{ current: number; peak: number }> {
  const m = page.getByTestId('gpu-memory');
  return { current: await num(m, 'data-current-bytes'), peak: await num(m, 'data-peak-bytes') };
}

describe('Chat panel in Chromium', () => {
  beforeAll(async () => {
    requireBuild('hub');
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watchConsole(page, uncaught);
    // Records every data-testid that ever appears: the demo loads faster than a poll could see its progress bar.
    await page.addInitScript(() => {
      const seen = new Set<string>();
      (window as unknown as { __seen: Set<string> }).__seen = seen;
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('[data-testid]')) seen.add(el.getAttribute('data-testid')!);
      }).observe(document, { subtree: true, childList: true });
    });
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('caches the demo model, then opens Chat from the keyboard', async () => {
    await openStudio(page, site.url);
    await cacheDemo(page);

    await page.getByTestId('tab-models').focus();
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('tab-chat').getAttribute('aria-selected')).resolves.toBe('true');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('tab-chat');
    await page.getByTestId('chat-model-select').waitFor();
    // The newest cached model is the default choice; nothing is on the GPU yet, so nothing can be sent.
    await expect(page.getByTestId('chat-model-select').locator('option:checked').innerText()).resolves.toContain(DEMO);
    await expect(page.getByTestId('chat-loaded').innerText()).resolves.toContain('No model on the GPU');
    await page.getByTestId('chat-input').fill('hi');
    await expect(page.getByTestId('chat-send').isDisabled()).resolves.toBe(true);
  });

  it('loads the model onto the GPU with a progress bar and shows GPU memory', async () => {
    await page.evaluate(() => (window as unknown as { __seen: Set<string> }).__seen.clear()); // forget the download's bar
    await page.getByTestId('chat-load').click();
    await waitLoaded(true);
    await expect(page.getByTestId('chat-loaded').innerText()).resolves.toContain(DEMO);
    const seen = await page.evaluate(() => [...(window as unknown as { __seen: Set<string> }).__seen]);
    expect(seen).toContain('job-progress');
    const { current, peak } = await memoryBytes();
    expect(current).toBeGreaterThan(0);
    expect(peak).toBeGreaterThanOrEqual(current);
    await expect(page.getByTestId('gpu-memory-current').innerText()).resolves.toMatch(/^\d+(\.\d+)? (B|KB|MB)$/);
    await expect(page.getByTestId('gpu-memory-weights').innerText()).resolves.toMatch(/KB of weights/);
    // The demo ships a chat template, so Chat mode is on and available.
    await expect(page.getByTestId('mode-chat').isChecked()).resolves.toBe(true);
    await expect(page.getByTestId('setting-temperature').inputValue()).resolves.toBe('0.7');
    await expect(page.getByTestId('setting-topP').inputValue()).resolves.toBe('0.9');
    await expect(page.getByTestId('setting-topK').inputValue()).resolves.toBe('50');
    await expect(page.getByTestId('setting-maxTokens').inputValue()).resolves.toBe('64');
    await page.getByTestId('chat-input').fill('');
    await screenshot(page, 'chat-01-loaded');
  });

  let greedyReply = '';

  it('streams a greedy reply (temperature 0) with token count and tokens/s', async () => {
    await setSetting('temperature', '0');
    const turn = await sendAndWait('Tell me about alloys.');
    await expect(turn.getByTestId('turn-prompt').innerText()).resolves.toBe('Tell me about alloys.');
    greedyReply = await replyText(turn);
    expect(greedyReply.length).toBeGreaterThan(0);
    const tokens = await num(turn.getByTestId('turn-tokens'), 'data-value');
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThanOrEqual(64);
    expect(await num(turn.getByTestId('turn-rate'), 'data-value')).toBeGreaterThan(0);
    await expect(turn.getByTestId('turn-rate').innerText()).resolves.toMatch(/^\d+\.\d tokens\/s$/);
    expect(['eos', 'length', 'context']).toContain(await turn.getAttribute('data-finish'));
    // Chat sends clear the box and give focus back for the next message.
    await expect(page.getByTestId('chat-input').inputValue()).resolves.toBe('');
    expect((await memoryBytes()).peak).toBeGreaterThan(0);
    await screenshot(page, 'chat-02-reply');
  });

  it('repeats the same greedy reply for the same conversation', async () => {
    await page.getByTestId('chat-clear').click();
    await page.getByTestId('chat-empty').waitFor();
    const turn = await sendAndWait('Tell me about alloys.');
    await expect(replyText(turn)).resolves.toBe(greedyReply);
  });

  it('continues the conversation: a second turn sends the history through the chat template', async () => {
    // The demo's context is 128 tokens and its template's system prompt takes most of it: keep replies short.
    await page.getByTestId('chat-clear').click();
    await setSetting('maxTokens', '6');
    await sendAndWait('Hi');
    const turn = await sendAndWait('And steel?');
    await expect(turns().count()).resolves.toBe(2);
    // The prompt now holds the first exchange too, so it is longer than the first turn's.
    const first = await num(turns().first().locator('[data-testid="turn-tokens"]'), 'data-value');
    expect(first).toBeGreaterThan(0);
    const promptLine = await turn.locator('.stats').innerText();
    const firstLine = await turns().first().locator('.stats').innerText();
    const promptTokens = (s: string) => Number(/prompt (\d+) tokens/.exec(s)?.[1]);
    expect(promptTokens(promptLine)).toBeGreaterThan(promptTokens(firstLine));
  });

  it('Stop (Escape) during a long generation keeps the partial reply and re-enables Send', async () => {
    await page.getByTestId('chat-clear').click();
    await setSetting('maxTokens', '4096');
    await setSetting('temperature', '1');
    await setSetting('seed', '7');
    await page.getByTestId('chat-input').fill('Write a long story.');
    await page.getByTestId('chat-input').press('Enter');
    const turn = lastTurn();
    // Streaming: tokens arrive while the turn is still running.
    await page.waitForFunction(
      () => {
        const t = document.querySelector('[data-testid="chat-turn"]:last-child');
        return t?.getAttribute('data-status') === 'streaming' && Number(t.querySelector('[data-testid="turn-tokens"]')?.getAttribute('data-value')) >= 3;
      },
      undefined,
      { timeout: WAIT, polling: 10 },
    );
    await expect(page.getByTestId('chat-send').isDisabled()).resolves.toBe(true);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.querySelector('[data-testid="chat-turn"]:last-child')?.getAttribute('data-status') === 'done', undefined, {
      timeout: WAIT,
    });
    await expect(turn.getAttribute('data-finish')).resolves.toBe('stopped');
    const tokens = await num(turn.getByTestId('turn-tokens'), 'data-value');
    expect(tokens).toBeGreaterThanOrEqual(3);
    expect(tokens).toBeLessThan(100); // the context (128) minus the prompt would have allowed more
    expect((await replyText(turn)).length).toBeGreaterThan(0);
    await expect(page.getByTestId('chat-stop').isDisabled()).resolves.toBe(true);
    await page.getByTestId('chat-input').fill('Thanks.');
    await expect(page.getByTestId('chat-send').isEnabled()).resolves.toBe(true);
    await page.getByTestId('chat-input').fill('');
  });

  it('Generate mode continues a plain prompt', async () => {
    await page.getByTestId('settings-reset').click();
    await setSetting('temperature', '0');
    await page.getByTestId('mode-generate').check();
    await expect(page.getByTestId('chat-send').innerText()).resolves.toBe('Generate');
    await page.getByTestId('chat-input').fill('Once upon a time');
    await page.getByTestId('chat-send').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="chat-turn"]:last-child')?.getAttribute('data-status') === 'done', undefined, {
      timeout: WAIT,
    });
    const turn = lastTurn();
    await expect(turn.getAttribute('data-mode')).resolves.toBe('generate');
    await expect(turn.getByTestId('turn-prompt').innerText()).resolves.toBe('Once upon a time');
    expect(await num(turn.getByTestId('turn-tokens'), 'data-value')).toBeGreaterThan(0);
    expect((await replyText(turn)).length).toBeGreaterThan(0);
    // A generate prompt stays in the box, to be tweaked and run again.
    await expect(page.getByTestId('chat-input').inputValue()).resolves.toBe('Once upon a time');
    await expect(turn.getByTestId('turn-kv').count()).resolves.toBe(0);
    const f32Reply = await replyText(turn); // (turn is the last turn's locator: read it before the next run)

    // The same greedy run with an f16 KV cache: the turn says so; the text may differ only where the demo's random
    // weights leave two tokens within the cache's rounding, so it is printed, and its length checked
    await page.getByTestId('setting-kvCache').selectOption('f16');
    const before = await turns().count();
    await page.getByTestId('chat-send').click();
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid="chat-turn"]').length > n && document.querySelector('[data-testid="chat-turn"]:last-child')?.getAttribute('data-status') === 'done',
      before,
      { timeout: WAIT },
    );
    const f16Turn = lastTurn();
    await expect(f16Turn.getByTestId('turn-kv').innerText()).resolves.toContain('f16 KV cache');
    const f16Reply = await replyText(f16Turn);
    console.log(`greedy, f32 cache: ${JSON.stringify(f32Reply)}\ngreedy, f16 cache: ${JSON.stringify(f16Reply)}`);
    expect(f16Reply.length).toBeGreaterThan(0);
    await page.getByTestId('setting-kvCache').selectOption('f32');
  });

  it('survives a lost GPU device: says so, keeps the cache, reloads the model', async () => {
    await page.evaluate(() => (globalThis as unknown as { alloyDebug: { loseDevice(): Promise<void> } }).alloyDebug.loseDevice());
    const banner = page.getByTestId('device-lost');
    await banner.waitFor({ timeout: WAIT });
    await expect(banner.innerText()).resolves.toMatch(/The GPU device was lost \(\w+\)\. Your cached models are safe\./);
    await expect(page.getByTestId('gpu-badge').getAttribute('data-status')).resolves.toBe('lost');
    await expect(page.getByTestId('chat-loaded').innerText()).resolves.toContain('No model on the GPU');
    await expect(page.getByTestId('chat-send').isDisabled()).resolves.toBe(true);
    await screenshot(page, 'chat-03-device-lost');

    await page.getByTestId('device-reload').click();
    await banner.waitFor({ state: 'detached', timeout: WAIT });
    await waitLoaded(true);
    await page.waitForSelector('[data-testid="gpu-badge"][data-status="ok"]', { timeout: WAIT });
    expect((await memoryBytes()).current).toBeGreaterThan(0);
    const turn = await sendAndWait('Still there?');
    expect(await num(turn.getByTestId('turn-tokens'), 'data-value')).toBeGreaterThan(0);
    // Nothing cached was lost.
    await page.getByTestId('tab-models').click();
    // the panel asks the worker for the list when it opens: wait for it before counting
    await page.getByTestId('cached-model').first().waitFor({ timeout: WAIT });
    await expect(page.getByTestId('cached-model').count()).resolves.toBe(1);
  });

  it('unloads the model and gives the memory back', async () => {
    await page.getByTestId('tab-chat').click();
    await page.getByTestId('chat-unload').click();
    await waitLoaded(false);
    await page.waitForFunction(() => document.querySelector('[data-testid="gpu-memory"]')?.getAttribute('data-current-bytes') === '0', undefined, {
      timeout: WAIT,
    });
  });

  it('raised no uncaught exceptions in the page', () => {
    expect(uncaught).toEqual([]);
  });
});
