// End-to-end: a running job outlives its tab. The Merge panel is mounted only while its tab is shown, but its jobs
// live in the app-level MergeSession: clicking away during a merge and during a t sweep, then back, still shows
// the job's progress, and its Cancel still stops it (nothing is left in the cache).
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/tab-switch.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DIST, WAIT, cacheDemo, cacheFromHub, listModels, openStudio, requireBuild, watchConsole } from './studio-steps.ts';

const BF16 = 'alloy-fixtures/tiny-llama-bf16';

let site: RunningServer;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];

type Debug = { listPartials(): Promise<unknown[]>; slowMerges(ms: number): void };
const debug = (p: Page) => p.evaluate((ms) => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.slowMerges(ms), 0);

/** Waits until the progress bar inside `scope` reports some work done (a count like "3 / 40"). */
async function someProgress(scope: string): Promise<void> {
  await page.waitForFunction(
    (sel) => /^[1-9]\d* \/ \d+/.test(document.querySelector(`${sel} [data-testid="progress-text"]`)?.textContent?.trim() ?? ''),
    scope,
    { timeout: WAIT },
  );
}

describe('a running job survives a tab switch', () => {
  beforeAll(async () => {
    requireBuild('hub', 'benchmarks');
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    watchConsole(page, uncaught);
    await openStudio(page, site.url);
    await cacheDemo(page);
    await cacheFromHub(page, site.url, BF16);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('a merge keeps its progress and its Cancel across Models and back', async () => {
    const before = (await listModels(page)).map((m) => m.id).sort();
    await page.getByTestId('tab-merge').click();
    await page.getByTestId('merge-run').waitFor({ timeout: WAIT });
    await page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.slowMerges(250));
    await page.getByTestId('merge-run').click();
    await someProgress('[role="tabpanel"]');

    await page.getByTestId('tab-models').click();
    await page.getByTestId('load-demo').waitFor();
    await page.getByTestId('tab-merge').click();

    // the same job: still running, its count still moving, the Merge button still locked
    await someProgress('[role="tabpanel"]');
    await expect(page.getByTestId('merge-run').isDisabled()).resolves.toBe(true);
    await page.getByTestId('cancel-job').click();
    await page.getByTestId('merge-notice').filter({ hasText: 'cancelled' }).waitFor({ timeout: WAIT });
    await debug(page);
    expect((await listModels(page)).map((m) => m.id).sort()).toEqual(before);
    await expect(page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.listPartials())).resolves.toEqual([]);
  });

  it('a sweep keeps its progress and its Cancel across Data and back', async () => {
    const before = (await listModels(page)).length;
    await page.getByTestId('sweep-ts').fill('0, 0.25, 0.5, 0.75, 1');
    await page.getByTestId('sweep-run').click();
    await page.locator('.sweep [data-testid="job-progress"]').waitFor({ timeout: WAIT });

    await page.getByTestId('tab-data').click();
    await page.getByTestId('tab-merge').click();

    // the options as typed, the progress bar of the same sweep, and a Cancel that stops it
    await expect(page.getByTestId('sweep-ts').inputValue()).resolves.toBe('0, 0.25, 0.5, 0.75, 1');
    await page.locator('.sweep [data-testid="job-progress"]').waitFor({ timeout: WAIT });
    await expect(page.getByTestId('sweep-run').isDisabled()).resolves.toBe(true);
    await page.locator('.sweep').getByTestId('cancel-job').click();
    await page.getByTestId('sweep-notice').filter({ hasText: 'Sweep stopped' }).waitFor({ timeout: 150_000 });
    // a cancelled sweep removes its temporary merges
    expect((await listModels(page)).length).toBe(before);
    expect(uncaught).toEqual([]);
  }, 200_000);
});
