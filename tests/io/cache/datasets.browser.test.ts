// The Data panel's dataset store on REAL IndexedDB in Chromium (the harness page exposes src/io/cache/datasets.ts):
// save / list / read back (multi-byte text split over several chunks) / delete (no chunk left), and a page reload
// during a big save leaving the dataset complete or absent (no orphan chunks), never listed half-written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureHarness, HARNESS_DIR } from '../../helpers/harness.ts';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../../helpers/static-server.ts';
import type { DatasetStore } from '../../../src/io/cache/datasets.ts';

const DB = 'alloy-datasets-test';


type W = { alloyDatasetStore: typeof DatasetStore; alloyHarnessReady: boolean; pendingSave?: Promise<unknown> };

let browser: Browser;
let page: Page;
let site: RunningServer;

async function open(): Promise<void> {
  await page.goto(`${site.url}/index.html`);
  await page.waitForFunction(() => (window as unknown as W).alloyHarnessReady === true);
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
    DB,
  );
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
});

const META = { format: 'jsonl' as const, shape: { id: 'text' as const, label: 'Plain text' }, methods: ['cpt' as const, 'sft' as const], rows: 3, split: { fraction: 0.25, seed: 3 } };

describe('IndexedDB dataset store', () => {
  it('saves, lists, reads back the same text over several chunks, deletes every chunk', async () => {
    const r = await page.evaluate(
      async ({ db, meta }) => {
        const S = (window as unknown as W).alloyDatasetStore;
        const s = await S.open(db, 1000); // 1000-byte chunks: the multi-byte characters straddle chunk edges
        const text = Array.from({ length: 300 }, (_, i) => JSON.stringify({ text: `row ${i}: spider silk — 蜘蛛の糸 ✓` })).join('\n') + '\n';
        const a = await s.save({ ...meta, name: 'a.jsonl' }, text);
        const b = await s.save({ ...meta, name: 'b.txt', format: 'txt', split: null }, 'one paragraph\n');
        const listed = (await s.list()).map((d) => d.name);
        const back = await s.get(a.id);
        const chunkCount = () =>
          new Promise<number>((ok) => {
            const req = indexedDB.open(db);
            req.onsuccess = () => {
              const c = req.result.transaction('chunks').objectStore('chunks').count();
              c.onsuccess = () => {
                ok(c.result);
                req.result.close();
              };
            };
          });
        const chunksBefore = await chunkCount();
        await s.delete(a.id);
        const after = (await s.list()).map((d) => d.name);
        const gone = await s.get(a.id);
        const chunksAfter = await chunkCount();
        s.close();
        return { a, b, listed, same: back?.text === text, summary: back?.summary, bytes: new Blob([text]).size, chunksBefore, after, gone, chunksAfter };
      },
      { db: DB, meta: META },
    );
    expect(r.listed).toEqual(['b.txt', 'a.jsonl']); // newest first
    expect(r.same).toBe(true);
    expect(r.summary).toEqual(r.a);
    expect(r.a).toMatchObject({ name: 'a.jsonl', rows: 3, bytes: r.bytes, chunks: Math.ceil(r.bytes / 1000), split: { fraction: 0.25, seed: 3 } });
    expect(r.chunksBefore).toBe(r.a.chunks + 1);
    expect(r.after).toEqual(['b.txt']);
    expect(r.gone).toBeNull();
    expect(r.chunksAfter).toBe(1);
  });

  it('a page reload during a big save leaves it complete or absent', async () => {
    await page.evaluate(
      ({ db, meta }) => {
        const w = window as unknown as W;
        const text = 'x'.repeat(24 * 2 ** 20);
        w.pendingSave = w.alloyDatasetStore.open(db, 2 ** 20).then((s) => s.save({ ...meta, name: 'big.txt' }, text));
      },
      { db: DB, meta: META },
    );
    await open(); // the "crash": the document goes away with the transaction in flight
    const r = await page.evaluate(async (db) => {
      const s = await (window as unknown as W).alloyDatasetStore.open(db);
      const list = await s.list();
      const big = list.find((d) => d.name === 'big.txt');
      const got = big ? await s.get(big.id) : null;
      s.close();
      const chunks = await new Promise<number>((ok) => {
        const req = indexedDB.open(db);
        req.onsuccess = () => {
          const c = req.result.transaction('chunks').objectStore('chunks').count();
          c.onsuccess = () => {
            ok(c.result);
            req.result.close();
          };
        };
      });
      return { names: list.map((d) => d.name), size: got?.text.length ?? null, chunks };
    }, DB);
    console.log(`after a reload mid-save: ${JSON.stringify(r.names)}`);
    expect([['b.txt'], ['big.txt', 'b.txt']]).toContainEqual(r.names);
    if (r.names.includes('big.txt')) expect(r.size).toBe(24 * 2 ** 20);
    expect(r.chunks).toBe(r.names.includes('big.txt') ? 1 + 24 : 1); // no orphan chunks of an aborted save
  });
});
