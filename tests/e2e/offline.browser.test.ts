// Offline: after one visit the service worker (vite-plugin-pwa / Workbox) has the app shell, the demo models and
// the demo data, so the studio opens and loads its demo with the web server gone; the manifest makes it
// installable. The server is really stopped, not emulated, so nothing can come from the network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { watchConsole } from './studio-steps.ts';

const DIST = join(process.cwd(), 'dist');
const WAIT = 60_000;

let site: RunningServer | null = null;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];

describe('the studio offline', () => {
  beforeAll(async () => {
    if (!existsSync(join(DIST, 'sw.js'))) throw new Error(`${DIST}/sw.js is missing: run \`npm run build\` before the browser tests.`);
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    watchConsole(page, uncaught);
  }, WAIT);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('installs the service worker and says the studio works offline', async () => {
    await page.goto(site!.url);
    await page.locator('[data-testid="offline-badge"][data-state="ready"]').waitFor({ timeout: WAIT });
    await expect(page.getByTestId('offline-badge').innerText()).resolves.toBe('Works offline');
    // the worker claims the page it installed from, so this page's own fetches go through it from now on
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: WAIT });
    const manifest = await page.evaluate(async () => (await fetch('/manifest.webmanifest')).json());
    expect(manifest).toMatchObject({ name: 'Alloy studio', display: 'standalone', start_url: '/' });
    expect(manifest.icons.map((i: { sizes: string }) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
  }, WAIT * 2);

  it('opens with the server stopped and loads the demo model from the offline copy', async () => {
    await site!.close();
    site = null;
    await page.reload();
    await expect(page.locator('h1').innerText()).resolves.toBe('Alloy studio');
    await page.locator('[data-testid="offline-badge"][data-state="ready"]').waitFor({ timeout: WAIT });
    await page.getByTestId('load-demo').click();
    await page.getByTestId('cached-model').first().waitFor({ timeout: WAIT });
    // the benchmark and demo data come from the same copy
    const lines = await page.evaluate(async () => (await (await fetch('/benchmarks/materials-bio-mc.jsonl')).text()).trim().split('\n').length);
    expect(lines).toBeGreaterThan(10);
    await screenshot(page, 'offline-models');
    expect(uncaught).toEqual([]);
  }, WAIT * 2);
});
