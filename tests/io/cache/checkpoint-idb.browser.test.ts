// Training checkpoints on REAL IndexedDB in Chromium (the harness page exposes src/io/cache/checkpoint-idb.ts):
// save / list / read back / replace / delete, a blob split over several chunks, runs kept apart, and a "crash"
// (the page reloaded while a 24 MB save is in flight) leaving the checkpoint complete or absent, never partial.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureHarness, HARNESS_DIR } from '../../helpers/harness.ts';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../../helpers/static-server.ts';

const MB = 2 ** 20;


let browser: Browser;
let page: Page;
let site: RunningServer;

async function open(): Promise<void> {
  await page.goto(`${site.url}/index.html`);
  await page.waitForFunction(() => window.alloyHarnessReady === true);
}

beforeAll(async () => {
  await ensureHarness();
  site = await serveStatic(HARNESS_DIR);
  browser = await launchChromium();
  page = await browser.newPage();
  await open();
  await page.evaluate(
    (db) =>
      new Promise<void>((ok) => {
        const r = indexedDB.deleteDatabase(db);
        r.onsuccess = r.onerror = () => ok();
      }),
    'alloy-checkpoints-test',
  );
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
});

describe('IndexedDB checkpoint store', () => {
  it('saves, lists, reads back, replaces and deletes; chunks; runs apart', async () => {
    await page.evaluate(() => window.alloyHarness.checkpoints.save('run-a', 10, 300_000, 64 * 1024));
    await page.evaluate(() => window.alloyHarness.checkpoints.save('run-a', 2, 1000, 64 * 1024));
    await page.evaluate(() => window.alloyHarness.checkpoints.save('run-b', 5, 10, 64 * 1024));
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.steps('run-a'))).toEqual([2, 10]);
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.steps('run-b'))).toEqual([5]);
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.check('run-a', 10))).toEqual({ size: 300_000, intact: true });
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.chunkCount())).toBe(5 + 1 + 1); // ⌈300000/65536⌉ + 1 + 1
    // replacing step 10 with a smaller blob leaves no stale chunks
    await page.evaluate(() => window.alloyHarness.checkpoints.save('run-a', 10, 70_000, 64 * 1024));
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.check('run-a', 10))).toEqual({ size: 70_000, intact: true });
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.chunkCount())).toBe(2 + 1 + 1);
    await page.evaluate(() => window.alloyHarness.checkpoints.remove('run-a', 10));
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.steps('run-a'))).toEqual([2]);
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.chunkCount())).toBe(2);
  });

  it('a page reload during a save leaves that checkpoint complete or absent, and the earlier ones intact', async () => {
    await page.evaluate(() => window.alloyHarness.checkpoints.save('run-c', 1, 100_000, 1024 * 1024));
    await page.evaluate(() => window.alloyHarness.checkpoints.startSave('run-c', 2, 24 * 1024 * 1024, 1024 * 1024));
    await open(); // the "crash": the document goes away with the transaction in flight
    const steps = await page.evaluate(() => window.alloyHarness.checkpoints.steps('run-c'));
    console.log(`after a reload mid-save: steps ${JSON.stringify(steps)}`);
    expect([[1], [1, 2]]).toContainEqual(steps);
    expect(await page.evaluate(() => window.alloyHarness.checkpoints.check('run-c', 1))).toEqual({ size: 100_000, intact: true });
    if (steps.includes(2)) expect(await page.evaluate(() => window.alloyHarness.checkpoints.check('run-c', 2))).toEqual({ size: 24 * MB, intact: true });
    // chunks of run-c: step 1 (1 chunk) plus, only if step 2 committed, its 24
    const chunks = await page.evaluate(() => window.alloyHarness.checkpoints.chunkCount());
    expect(chunks - 2).toBe(steps.includes(2) ? 1 + 24 : 1); // 2 = run-a's and run-b's chunks left by the first test
  });
});
