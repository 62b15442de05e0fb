// End-to-end: the built studio in Debian's Chromium (WebGPU on SwiftShader), clicked through like a user would.
// Run after a build: `npm run build && npx vitest run --project browser tests/e2e`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { watchConsole } from './studio-steps.ts';
import { startHubServer, type HubServer } from '../helpers/hub-server.ts';

const DIST = join(process.cwd(), 'dist');
const HUB_ROOT = join(DIST, 'hub'); // the same fixtures the demo uses, copied from public/hub by the build
const WAIT = 60_000;

let site: RunningServer;
let hub: HubServer; // a second origin in the hub's URL layout
let slowHub: HubServer; // the same, throttled, so a download can be cancelled half-way
let browser: Browser;
let page: Page;
const problems: string[] = []; // console errors: reported, not fatal (404s of the bad-repo step land here)
const uncaught: string[] = []; // uncaught page/worker exceptions: fatal

const cached = () => page.getByTestId('cached-model');
const byLabel = (text: string) => cached().filter({ hasText: text });
const interrupted = (text: string) => page.getByTestId('interrupted-download').filter({ hasText: text });
const activeTestId = () => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? null);

/** Loads a repo through the Hub form, pointing the Advanced base URL at `base`. */
async function loadFromHub(base: string, repo: string): Promise<void> {
  const advanced = page.locator('summary', { hasText: 'Advanced' });
  if (!(await page.getByTestId('hub-base-url').isVisible())) await advanced.click();
  await page.getByTestId('hub-base-url').fill(base);
  await page.getByTestId('hub-repo').fill(repo);
  await page.getByTestId('hub-load').click();
}

describe('Alloy studio in Chromium', () => {
  beforeAll(async () => {
    if (!existsSync(join(DIST, 'index.html')) || !existsSync(HUB_ROOT)) {
      throw new Error(`${DIST} (with dist/hub fixtures) is missing: run \`npm run build\` before the browser tests.`);
    }
    site = await serveStatic(DIST);
    hub = await startHubServer({ root: HUB_ROOT });
    slowHub = await startHubServer({ root: HUB_ROOT });
    slowHub.faults.delayMsPerPiece = 150; // 16 KiB pieces: ~100 KB/s
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    watchConsole(page, uncaught);
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    // Records every data-testid that ever appears: a tiny local download can finish between two polls,
    // yet the test must still know that the progress bar was shown.
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
    await Promise.all([site?.close(), hub?.close(), slowHub?.close()]);
    if (problems.length > 0) console.warn(`browser reported:\n${problems.join('\n')}`);
  });

  it('opens with the GPU badge showing the SwiftShader adapter', async () => {
    await page.goto(site.url);
    await expect(page.title()).resolves.toBe('Alloy studio');
    const badge = page.getByTestId('gpu-badge');
    await page.waitForSelector('[data-testid="gpu-badge"]:not([data-status="pending"])', { timeout: WAIT });
    const text = await badge.innerText();
    expect(await badge.getAttribute('data-status'), text).toBe('ok');
    expect(text.toLowerCase()).toContain('swiftshader');
    expect(text).toMatch(/shader-f16 (yes|no)/);
    expect(text).toContain('software kernels'); // chosen by adapter: SwiftShader is a CPU adapter
    // Tabs: Models selected; arrow keys move focus and select.
    await expect(page.getByTestId('tab-models').getAttribute('aria-selected')).resolves.toBe('true');
    await page.getByTestId('tab-models').focus();
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('tab-chat').getAttribute('aria-selected')).resolves.toBe('true');
    await page.keyboard.press('ArrowRight');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('tab-data');
    await expect(page.getByTestId('tab-data').getAttribute('aria-selected')).resolves.toBe('true');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await expect(page.getByTestId('tab-models').getAttribute('aria-selected')).resolves.toBe('true');
    await page.getByTestId('cached-empty').waitFor();
    await screenshot(page, 'studio-01-open');
  });

  it('loads the built-in demo into the cache with a progress bar', async () => {
    await page.getByTestId('load-demo').click();
    await byLabel('alloy-fixtures/tiny-llama@main').waitFor({ timeout: WAIT });
    const seen = await page.evaluate(() => [...(window as unknown as { __seen: Set<string> }).__seen]);
    expect(seen).toContain('job-progress');
    expect(seen).toContain('progress-bar');
    const row = byLabel('alloy-fixtures/tiny-llama@main');
    await expect(row.getByTestId('model-size').innerText()).resolves.toMatch(/^\d+(\.\d+)? (B|KB|MB)$/);
    await expect(page.getByTestId('error-box').count()).resolves.toBe(0);
    await screenshot(page, 'studio-02-demo-cached');
  });

  it('inspects the demo: config facts, tensors, tokenizer and chat template', async () => {
    await byLabel('alloy-fixtures/tiny-llama@main').getByTestId('inspect').click();
    const inspector = page.getByTestId('inspector');
    await inspector.getByTestId('fact-layers').waitFor({ timeout: WAIT });
    await expect(inspector.getByTestId('fact-layers').locator('dd').innerText()).resolves.toBe('2');
    await expect(inspector.getByTestId('fact-architecture').locator('dd').innerText()).resolves.toBe('LlamaForCausalLM');
    await expect(inspector.getByTestId('fact-tied').locator('dd').innerText()).resolves.toBe('yes');
    expect(await inspector.getByTestId('tensor-table').locator('tbody tr').count()).toBeGreaterThan(5);
    await expect(inspector.getByTestId('tensor-table').innerText()).resolves.toContain('model.embed_tokens.weight');
    await inspector.getByTestId('tokenizer-input').fill('hello alloy');
    // data-for names the text the shown ids belong to, so this waits for the reply to the new text.
    const ids = inspector.locator('[data-testid="tokenizer-ids"][data-for="hello alloy"]');
    await ids.waitFor({ timeout: WAIT });
    await expect(ids.innerText()).resolves.toMatch(/^\[\d+(, \d+)*\]$/);
    const pieces = await inspector.getByTestId('tokenizer-pieces').innerText();
    expect(pieces.replace(/\s+/g, '').replace(/␣/g, ' ')).toBe('hello alloy'); // the pieces spell out the text
    await expect(inspector.getByTestId('chat-preview').innerText()).resolves.toContain('Give one example.');
    await screenshot(page, 'studio-03-inspect');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'studio-03-inspect-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('keeps the model across a reload (IndexedDB)', async () => {
    await page.reload();
    await byLabel('alloy-fixtures/tiny-llama@main').waitFor({ timeout: WAIT });
    await expect(cached().count()).resolves.toBe(1);
    await screenshot(page, 'studio-04-after-reload');
  });

  it('releases GPU memory by restarting the worker, and keeps working', async () => {
    const started = page.waitForEvent('worker', { timeout: WAIT }); // the fresh studio worker
    await page.getByTestId('release-gpu').click();
    await started;
    await page.waitForSelector('[data-testid="gpu-badge"][data-status="ok"]', { timeout: WAIT });
    await byLabel('alloy-fixtures/tiny-llama@main').getByTestId('inspect').click();
    await page.getByTestId('inspector').getByTestId('fact-layers').waitFor({ timeout: WAIT });
    await expect(cached().count()).resolves.toBe(1);
  });

  it('loads a fixture from a second, hub-shaped origin through the Advanced base URL', async () => {
    await loadFromHub(hub.url, 'alloy-fixtures/tiny-qwen2');
    const row = byLabel('alloy-fixtures/tiny-qwen2@main');
    await row.waitFor({ timeout: WAIT });
    await expect(row.getByTestId('model-source').innerText()).resolves.toContain(new URL(hub.url).host);
    const inspector = page.getByTestId('inspector');
    await inspector.getByTestId('fact-architecture').waitFor({ timeout: WAIT });
    await expect(inspector.getByTestId('fact-architecture').locator('dd').innerText()).resolves.toBe('Qwen2ForCausalLM');
    await expect(cached().count()).resolves.toBe(2);
    await screenshot(page, 'studio-05-second-origin');
  });

  it('shows a clear, dismissable error for a bad repo id', async () => {
    await loadFromHub(hub.url, 'alloy-fixtures/no-such-model');
    const box = page.getByTestId('error-box');
    await box.waitFor({ timeout: WAIT });
    await expect(box.getByTestId('error-message').innerText()).resolves.toContain('alloy-fixtures/no-such-model');
    await screenshot(page, 'studio-06-error-missing-repo');
    await box.getByTestId('error-dismiss').click();
    await expect(page.getByTestId('error-box').count()).resolves.toBe(0);

    await loadFromHub(hub.url, 'not a repo');
    await box.waitFor({ timeout: WAIT });
    await expect(box.getByTestId('error-message').innerText()).resolves.toMatch(/not a repo id/);
    await screenshot(page, 'studio-07-error-malformed-repo');
    await box.getByTestId('error-dismiss').click();
    await expect(cached().count()).resolves.toBe(2);
  });

  it('cancels a download half-way (Escape), caches nothing and lists it as interrupted', async () => {
    await loadFromHub(slowHub.url, 'alloy-fixtures/tiny-llama-untied');
    await page.getByTestId('job-progress').waitFor({ timeout: WAIT });
    // Wait until a few 64 KiB chunks of the weights are stored (chunks are the unit a resume keeps), then cancel
    // mid-file.
    await page.waitForFunction(
      () => {
        const bar = document.querySelector('[data-testid="progress-bar"]');
        const v = Number(bar?.getAttribute('aria-valuenow') ?? 0);
        return v >= 40 && v <= 80;
      },
      undefined,
      { timeout: WAIT, polling: 50 },
    );
    await screenshot(page, 'studio-08-downloading');
    await page.keyboard.press('Escape');
    await page.getByTestId('notice').filter({ hasText: 'Cancelled' }).waitFor({ timeout: WAIT });
    await expect(page.getByTestId('job-progress').count()).resolves.toBe(0);
    await expect(byLabel('tiny-llama-untied').count()).resolves.toBe(0);
    // The bytes already stored are not hidden: the download is listed as interrupted, with how far it got.
    const row = interrupted('alloy-fixtures/tiny-llama-untied@main');
    await row.waitFor({ timeout: WAIT });
    const bytes = await row.getByTestId('interrupted-bytes').innerText();
    expect(bytes).toMatch(/^\d+(\.\d+)? KB \/ \d+(\.\d+)? KB$/);
    const done = Number(await row.getByTestId('interrupted-bar').getAttribute('aria-valuenow'));
    expect(done).toBeGreaterThanOrEqual(20); // the small files and at least two chunks of the weights
    expect(done).toBeLessThan(100);
    await screenshot(page, 'studio-09-cancelled');
    await screenshot(page, 'studio-12-interrupted');
    await page.reload();
    await byLabel('alloy-fixtures/tiny-qwen2@main').waitFor({ timeout: WAIT });
    await expect(byLabel('tiny-llama-untied').count()).resolves.toBe(0);
    await expect(cached().count()).resolves.toBe(2);
    await expect(row.getByTestId('interrupted-bytes').innerText()).resolves.toBe(bytes); // kept across sessions
  });

  it('resumes the interrupted download from the keyboard, by HTTP Range, into Cached models', async () => {
    slowHub.requests.length = 0;
    slowHub.faults.delayMsPerPiece = 0;
    const row = interrupted('alloy-fixtures/tiny-llama-untied@main');
    await row.getByTestId('resume').focus();
    await page.keyboard.press('Enter');
    await byLabel('alloy-fixtures/tiny-llama-untied@main').waitFor({ timeout: WAIT });
    await expect(page.getByTestId('interrupted').count()).resolves.toBe(0);
    const weights = slowHub.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/model.safetensors'));
    expect(weights.length).toBeGreaterThan(0);
    // Only the missing part was asked for, from a chunk boundary past the start.
    expect(weights.every((r) => r.status === 206 && /^bytes=\d+-$/.test(r.range ?? ''))).toBe(true);
    const from = Number(/^bytes=(\d+)-$/.exec(weights[0]!.range!)![1]);
    expect(from).toBeGreaterThan(0);
    expect(from % 65_536).toBe(0);
    await page.getByTestId('inspector').getByTestId('fact-layers').waitFor({ timeout: WAIT }); // the bytes are whole
    await expect(cached().count()).resolves.toBe(3);
  });

  it('lists a download cut off by the network; Discard (two steps, keyboard) removes it, also after a reload', async () => {
    // Every attempt (the first and two reconnections) is cut off inside the weights.
    slowHub.faults.cutAfterBytes = { bytes: 40_000, path: 'model.safetensors', times: 3 };
    await loadFromHub(slowHub.url, 'alloy-fixtures/tiny-llama-bf16');
    const box = page.getByTestId('error-box');
    await box.waitFor({ timeout: WAIT });
    await expect(box.getByTestId('error-message').innerText()).resolves.toMatch(/model\.safetensors was cut off/);
    const row = interrupted('alloy-fixtures/tiny-llama-bf16@main');
    await row.waitFor({ timeout: WAIT });
    await box.getByTestId('error-dismiss').click();

    // "Keep" backs out and returns focus to Discard.
    await row.getByTestId('discard').focus();
    await page.keyboard.press('Enter');
    await expect(activeTestId()).resolves.toBe('confirm-discard');
    await page.keyboard.press('Tab');
    await expect(activeTestId()).resolves.toBe('cancel-discard');
    await page.keyboard.press('Enter');
    await expect(activeTestId()).resolves.toBe('discard');
    await expect(row.count()).resolves.toBe(1);

    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter'); // "Really discard" has the focus
    await page.getByTestId('notice').filter({ hasText: 'Discarded' }).waitFor({ timeout: WAIT });
    await expect(page.getByTestId('interrupted').count()).resolves.toBe(0);
    await page.reload();
    await byLabel('alloy-fixtures/tiny-llama-untied@main').waitFor({ timeout: WAIT });
    await expect(page.getByTestId('interrupted').count()).resolves.toBe(0);
    await expect(cached().count()).resolves.toBe(3);
  });

  it('loads a local folder (picked with the folder input) without any server', async () => {
    const folder = join(HUB_ROOT, 'alloy-fixtures', 'tiny-llama-sharded', 'resolve', 'main');
    await page.getByTestId('folder-input').setInputFiles(folder);
    const row = byLabel('folder main');
    await row.waitFor({ timeout: WAIT });
    await expect(row.getByTestId('model-source').innerText()).resolves.toContain('local folder');
    const inspector = page.getByTestId('inspector');
    await inspector.getByTestId('fact-layers').waitFor({ timeout: WAIT });
    await expect(inspector.getByTestId('tensor-table').innerText()).resolves.toContain('model.layers.1.');
    await screenshot(page, 'studio-10-local-folder');
  });

  it('loads files dropped on the drop zone', async () => {
    // A synthetic drop: files built in the page from the demo fixtures (a real OS drag cannot be scripted).
    await page.evaluate(async () => {
      const base = new URL('hub/alloy-fixtures/tiny-llama-bf16/resolve/main/', document.baseURI);
      const names = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
      const dt = new DataTransfer();
      for (const name of names) {
        const blob = await (await fetch(new URL(name, base))).blob();
        dt.items.add(new File([blob], name));
      }
      const zone = document.querySelector('[data-testid="drop-zone"]')!;
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    const row = byLabel('folder dropped files');
    await row.waitFor({ timeout: WAIT });
    await expect(row.innerText()).resolves.toContain('4 files');
    const inspector = page.getByTestId('inspector');
    await inspector.getByTestId('fact-dtype').waitFor({ timeout: WAIT });
    await expect(inspector.getByTestId('tensor-table').innerText()).resolves.toContain('BF16');
  });

  it('deletes models (with confirmation) and they stay gone after a reload', async () => {
    const labels = ['alloy-fixtures/tiny-llama@main', 'alloy-fixtures/tiny-qwen2@main', 'alloy-fixtures/tiny-llama-untied@main'];
    for (const label of [...labels, 'folder main', 'folder dropped files']) {
      const row = byLabel(label);
      await row.getByTestId('delete').click();
      await row.getByTestId('confirm-delete').click();
      await page.waitForFunction(
        (l) => ![...document.querySelectorAll('[data-testid="model-label"]')].some((e) => e.textContent?.startsWith(l)),
        label,
        { timeout: WAIT },
      );
    }
    await page.getByTestId('cached-empty').waitFor();
    await page.reload();
    await page.getByTestId('cached-empty').waitFor({ timeout: WAIT });
    await screenshot(page, 'studio-11-deleted');
  });

  it('raised no uncaught exceptions in the page', () => {
    expect(uncaught).toEqual([]);
  });
});
