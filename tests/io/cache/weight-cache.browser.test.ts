// The weight cache on REAL IndexedDB in Chromium: the harness page (tests/browser/harness, built into
// dist-harness/) runs cacheModel against a hub-shaped server on another origin, so CORS, Range and the token
// header are exercised as in production.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureHarness, HARNESS_DIR } from '../../helpers/harness.ts';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../../helpers/static-server.ts';
import { sha256Hex, startHubServer, type HubRepo, type HubServer } from '../../helpers/hub-server.ts';
import { pickleRepo, shardedRepo, singleRepo } from '../../helpers/hub-repos.ts';
import type { CacheOptions, CacheResult, FileSpec, SourceSpec } from '../../browser/harness/harness.ts';

const CHUNK = 64 * 1024;


let browser: Browser;
let page: Page;
let site: RunningServer;
let hub: HubServer;

const repos: Record<string, HubRepo> = {
  'o/single': singleRepo(400_000),
  'o/sharded': shardedRepo(),
  'o/pickle': pickleRepo(),
  'o/gated': { ...singleRepo(50_000, 9), gated: true },
  'o/gated-files': { ...singleRepo(150_000, 10), gated: 'files' },
  'o/static': { ...singleRepo(100_000, 5), listing: 'none' },
};

function hubSrc(repo: string, extra: Partial<Extract<SourceSpec, { kind: 'hub' }>> = {}): SourceSpec {
  return { kind: 'hub', baseUrl: hub.url, repo, ...extra };
}

async function cache(spec: SourceSpec, opts: CacheOptions = {}): Promise<CacheResult> {
  return page.evaluate(([s, o]) => window.alloyHarness.cache(s, o), [spec, { chunkBytes: CHUNK, ...opts }] as const);
}
const list = () => page.evaluate(() => window.alloyHarness.list());
const stats = () => page.evaluate(() => window.alloyHarness.stats());
const readBack = (id: string) => page.evaluate((i) => window.alloyHarness.readBack(i), id);

function expectedShas(repo: string, paths: string[]): Record<string, string> {
  return Object.fromEntries(paths.map((p) => [p, sha256Hex(toBytes(repos[repo]!.files[p]!))]));
}
function toBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? new TextEncoder().encode(v) : v;
}

function resetFaults(): void {
  for (const k of Object.keys(hub.faults)) delete hub.faults[k as keyof typeof hub.faults];
  hub.requests.length = 0;
}

async function openHarness(): Promise<void> {
  await page.goto(`${site.url}/index.html`);
  await page.waitForFunction(() => window.alloyHarnessReady === true);
}

beforeAll(async () => {
  await ensureHarness();
  site = await serveStatic(HARNESS_DIR);
  hub = await startHubServer({ repos, token: 'hf_test_token' });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error('[harness]', e));
  await openHarness();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await hub?.close();
});

beforeEach(async () => {
  resetFaults();
  await page.evaluate(() => window.alloyHarness.reset());
});

describe('weight cache in Chromium IndexedDB', () => {
  it('caches a hub repo with one progress bar over all bytes, reads it back, re-caches as a no-op, deletes it', async () => {
    hub.faults.delayMsPerPiece = 15; // slow enough for several throttled progress reports
    const r = await cache(hubSrc('o/single'));
    if (!r.ok) throw new Error(r.error.message);
    const { summary } = r;
    expect(r.progress[0]).toMatchObject({ phase: 'listing', total: 0 });
    const progress = r.progress.filter((p) => p.phase === 'download');
    const paths = summary.files.map((f) => f.path);
    expect(paths).toEqual(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']);
    expect(summary.id).toBe(`${hub.url}|o/single@main`);
    expect(summary.totalBytes).toBe(summary.files.reduce((n, f) => n + f.size, 0));
    expect(progress.length).toBeGreaterThan(3);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.done).toBeGreaterThanOrEqual(progress[i - 1]!.done);
    expect(progress.every((p) => p.total === summary.totalBytes && p.unit === 'bytes')).toBe(true);
    expect(progress.at(-1)!.done).toBe(summary.totalBytes);
    expect(progress.some((p) => p.detail === 'model.safetensors' && p.rate > 0 && p.etaSeconds !== null)).toBe(true);
    // nothing skipped by the listing was fetched
    expect(hub.requests.some((r) => /README|onnx|\.bin/.test(r.path))).toBe(false);
    await screenshot(page, 'weight-cache-cached');

    expect(await list()).toEqual([expect.objectContaining({ id: summary.id, repo: 'o/single', revision: 'main', source: 'hub' })]);
    expect(await readBack(summary.id)).toEqual(expectedShas('o/single', paths));
    const st = await stats();
    expect(st.chunks).toBe(summary.files.reduce((n, f) => n + Math.ceil(f.size / CHUNK), 0));
    expect(st.partials).toEqual([]);

    hub.requests.length = 0;
    const again = await cache(hubSrc('o/single'));
    expect(again.ok && again.summary.createdAt).toBe(summary.createdAt);
    expect(hub.requests.length).toBe(0);

    await page.evaluate((id) => window.alloyHarness.delete(id), summary.id);
    expect(await list()).toEqual([]);
    expect(await stats()).toMatchObject({ manifests: 0, chunks: 0, partials: [] });
  });

  it('caches a sharded repo, a repo without API listing, and a gated repo with a token', async () => {
    const sharded = await cache(hubSrc('o/sharded'));
    if (!sharded.ok) throw new Error(sharded.error.message);
    expect(await readBack(sharded.summary.id)).toEqual(expectedShas('o/sharded', sharded.summary.files.map((f) => f.path)));

    const probed = await cache(hubSrc('o/static'));
    if (!probed.ok) throw new Error(probed.error.message);
    expect(probed.summary.files.map((f) => f.path)).toContain('model.safetensors');

    const denied = await cache(hubSrc('o/gated'));
    expect(denied).toMatchObject({ ok: false, error: { message: expect.stringMatching(/gated or private.*accept the licence.*access token/) } });
    const gated = await cache(hubSrc('o/gated', { token: 'hf_test_token' }));
    expect(gated.ok).toBe(true);
    const withAuth = hub.requests.filter((r) => r.path.includes('/o/gated/') && r.method === 'GET' && r.status < 300);
    expect(withAuth.length).toBeGreaterThan(0);
    expect(withAuth.every((r) => r.auth === 'Bearer hf_test_token')).toBe(true);
    expect((await list()).length).toBe(3);
  });

  it('cancelling mid-download leaves no entry; the next run resumes with Range', async () => {
    hub.faults.delayMsPerPiece = 10;
    const r = await cache(hubSrc('o/single'), { abortAtBytes: 150_000 });
    expect(r).toMatchObject({ ok: false, error: { name: 'CancelledError' } });
    expect(await list()).toEqual([]);
    const st = await stats();
    expect(st.manifests).toBe(0);
    expect(st.partials.length).toBe(1);
    await screenshot(page, 'weight-cache-cancelled');

    hub.faults.delayMsPerPiece = 0;
    hub.requests.length = 0;
    const resumed = await cache(hubSrc('o/single'));
    if (!resumed.ok) throw new Error(resumed.error.message);
    expect(hub.requests.some((q) => q.path.endsWith('/model.safetensors') && q.range && q.status === 206)).toBe(true);
    expect(resumed.progress.find((p) => p.phase === 'download')!.done).toBeGreaterThan(0); // counted from the bytes already stored
    expect(await readBack(resumed.summary.id)).toEqual(expectedShas('o/single', resumed.summary.files.map((f) => f.path)));
  });

  it('a download cut off half-way survives a reload and resumes from the last chunk with Range', async () => {
    hub.faults.cutAfterBytes = { bytes: 200_000, path: 'model.safetensors' };
    const cut = await cache(hubSrc('o/single'), { retries: 0 });
    expect(cut).toMatchObject({ ok: false, error: { name: 'InterruptedError', message: expect.stringMatching(/model\.safetensors.*cut off.*resume/) } });

    await openHarness(); // a tab closed and opened again: a new session, same IndexedDB
    expect(await list()).toEqual([]);
    const st = await stats();
    expect(st.partials.length).toBe(1);
    hub.requests.length = 0;
    const resumed = await cache(hubSrc('o/single'));
    if (!resumed.ok) throw new Error(resumed.error.message);
    const ranged = hub.requests.filter((q) => q.range);
    expect(ranged.length).toBe(1);
    expect(ranged[0]).toMatchObject({ status: 206, range: `bytes=${Math.floor(200_000 / CHUNK) * CHUNK}-` });
    // the small files finished before the cut were not fetched again
    expect(hub.requests.some((q) => q.path.endsWith('/config.json') && q.method === 'GET')).toBe(false);
    expect(await readBack(resumed.summary.id)).toEqual(expectedShas('o/single', resumed.summary.files.map((f) => f.path)));
  });

  it('a refused token keeps an interrupted download: resuming with the token continues from what was stored', async () => {
    hub.faults.cutAfterBytes = { bytes: 100_000, path: 'model.safetensors' };
    const cut = await cache(hubSrc('o/gated-files', { token: 'hf_test_token' }), { retries: 0 });
    expect(cut).toMatchObject({ ok: false, error: { name: 'InterruptedError' } });
    const denied = await cache(hubSrc('o/gated-files'), { retries: 0 });
    expect(denied).toMatchObject({ ok: false, error: { name: 'AuthError', message: expect.stringMatching(/gated or private/) } });
    expect((await stats()).partials.length).toBe(1); // the stored bytes survived the 401
    hub.requests.length = 0;
    const resumed = await cache(hubSrc('o/gated-files', { token: 'hf_test_token' }));
    if (!resumed.ok) throw new Error(resumed.error.message);
    // the files finished before the cut were kept through the refusal and are not fetched again
    expect(hub.requests.some((q) => q.path.endsWith('/config.json') && q.method === 'GET')).toBe(false);
    expect(await readBack(resumed.summary.id)).toEqual(expectedShas('o/gated-files', resumed.summary.files.map((f) => f.path)));
  });

  it('lists an interrupted download for the UI; discardPartial removes its chunks and record, never a complete entry', async () => {
    const kept = await cache(hubSrc('o/sharded'));
    if (!kept.ok) throw new Error(kept.error.message);
    const keptChunks = (await stats()).chunks;
    hub.faults.cutAfterBytes = { bytes: 200_000, path: 'model.safetensors' };
    expect((await cache(hubSrc('o/single'), { retries: 0 })).ok).toBe(false);

    const [p, ...rest] = await page.evaluate(() => window.alloyHarness.partialSummaries());
    expect(rest).toEqual([]);
    const listed = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];
    const total = listed.reduce((n, f) => n + toBytes(repos['o/single']!.files[f]!).byteLength, 0);
    expect(p).toMatchObject({
      id: `${hub.url}|o/single@main`,
      label: expect.stringContaining('o/single@main'),
      source: 'hub',
      baseUrl: hub.url,
      repo: 'o/single',
      revision: 'main',
      fileCount: 5,
      totalBytes: total,
    });
    // the small files plus the whole chunks of the weights stored before the cut
    const small = total - toBytes(repos['o/single']!.files['model.safetensors']!).byteLength;
    expect(p!.committedBytes).toBe(small + Math.floor(200_000 / CHUNK) * CHUNK);
    expect(p!.updatedAt).toBeGreaterThanOrEqual(p!.startedAt);
    expect((await stats()).chunks).toBeGreaterThan(keptChunks);

    await page.evaluate((id) => window.alloyHarness.discardPartial(id), p!.id);
    expect(await stats()).toMatchObject({ manifests: 1, partials: [], chunks: keptChunks });
    expect(await page.evaluate(() => window.alloyHarness.partialSummaries())).toEqual([]);
    // a discard of a complete entry's id is a no-op for its chunks
    await page.evaluate((id) => window.alloyHarness.discardPartial(id), kept.summary.id);
    expect(await stats()).toMatchObject({ manifests: 1, chunks: keptChunks });
    expect(await readBack(kept.summary.id)).toEqual(expectedShas('o/sharded', kept.summary.files.map((f) => f.path)));
  });

  it('a running download is not listed as interrupted and cannot be discarded until it stops', async () => {
    hub.faults.delayMsPerPiece = 30;
    const id = `${hub.url}|o/single@main`;
    const seen = await page.evaluate(
      async ([s, chunkBytes, entry]) => {
        const h = window.alloyHarness;
        const run = h.cache(s, { chunkBytes });
        await new Promise((r) => setTimeout(r, 250)); // the partial exists, the entry lock is held
        const during = { listed: await h.interrupted(), refused: await h.discardInterrupted(entry) };
        const done = await run;
        return { during, ok: done.ok, after: await h.interrupted() };
      },
      [hubSrc('o/single'), CHUNK, id] as const,
    );
    expect((await stats()).manifests).toBe(1);
    expect(seen).toEqual({ during: { listed: [], refused: expect.stringMatching(/running right now.*cancel it/) }, ok: true, after: [] });

    hub.faults.cutAfterBytes = { bytes: 100_000, path: 'model.safetensors' };
    expect((await cache(hubSrc('o/sharded'), { retries: 0 })).ok).toBe(true); // no model.safetensors: no cut
    await page.evaluate((i) => window.alloyHarness.delete(i), id);
    expect((await cache(hubSrc('o/single'), { retries: 0 })).ok).toBe(false);
    expect(await page.evaluate(() => window.alloyHarness.interrupted())).toEqual([id]);
    expect(await page.evaluate((i) => window.alloyHarness.discardInterrupted(i), id)).toBeNull();
    expect(await stats()).toMatchObject({ partials: [], manifests: 1 });
  });

  it('refuses before downloading when the quota is too small', async () => {
    const r = await cache(hubSrc('o/single'), { fakeEstimate: { usage: 900_000, quota: 1_000_000 } });
    expect(r).toMatchObject({
      ok: false,
      error: { name: 'QuotaError', message: expect.stringMatching(/needs 40\d KB.*only 100 KB is available.*Delete cached models/) },
    });
    expect(hub.requests.some((q) => q.path.endsWith('/model.safetensors'))).toBe(false);
    expect(await stats()).toMatchObject({ manifests: 0, chunks: 0, partials: [] });
    await screenshot(page, 'weight-cache-quota');
  });

  it('a QuotaExceededError from IndexedDB mid-write gives a QuotaError and leaves the cache consistent', async () => {
    const ok = await cache(hubSrc('o/sharded'));
    expect(ok.ok).toBe(true);
    const r = await cache(hubSrc('o/single'), { quotaErrorOnChunk: 5 });
    expect(r).toMatchObject({ ok: false, error: { name: 'QuotaError', message: expect.stringMatching(/Not enough browser storage.*Delete cached models/) } });
    const st = await stats();
    expect(st.partials).toEqual([]);
    expect(st.manifests).toBe(1);
    expect(st.chunks).toBe(ok.ok ? ok.summary.files.reduce((n, f) => n + Math.ceil(f.size / CHUNK), 0) : -1);
    expect((await list()).map((m) => m.repo)).toEqual(['o/sharded']);
  });

  it('a file whose sha256 does not match is rejected by name and its partial discarded', async () => {
    hub.faults.corrupt = 'model.safetensors';
    const r = await cache(hubSrc('o/single'));
    expect(r).toMatchObject({ ok: false, error: { where: { file: 'model.safetensors' }, message: expect.stringMatching(/model\.safetensors is corrupt.*sha256/) } });
    expect(await stats()).toMatchObject({ manifests: 0, chunks: 0, partials: [] });
  });

  it('refuses a pickle-only repo and a folder without config.json; caches a picked folder', async () => {
    const pickle = await cache(hubSrc('o/pickle'));
    expect(pickle).toMatchObject({ ok: false, error: { message: expect.stringMatching(/pickle.*only loads safetensors/i) } });

    const specs = (repo: string, prefix: string, skip: string[] = []): FileSpec[] =>
      Object.entries(repos[repo]!.files)
        .filter(([p]) => !skip.includes(p))
        .map(([p, v]) => ({ rel: `${prefix}/${p}`, base64: Buffer.from(toBytes(v)).toString('base64') }));
    const noConfig = await cache({ kind: 'folder', name: 'broken', files: specs('o/sharded', 'broken', ['config.json']) });
    expect(noConfig).toMatchObject({ ok: false, error: { where: { file: 'config.json' }, message: expect.stringMatching(/folder broken has no config\.json/) } });
    const direct = await page.evaluate((f) => window.alloyHarness.folderFiles('broken', f), specs('o/sharded', 'broken', ['config.json']));
    expect(direct).toMatchObject({ ok: false, error: { where: { file: 'config.json' } } });

    const folder = await cache({ kind: 'folder', name: 'my-model', files: specs('o/sharded', 'my-model') });
    if (!folder.ok) throw new Error(folder.error.message);
    expect(folder.summary.id).toMatch(/^folder\|my-model\|[0-9a-f]{16}$/);
    expect(await readBack(folder.summary.id)).toEqual(expectedShas('o/sharded', folder.summary.files.map((f) => f.path)));
    expect(await stats()).toMatchObject({ manifests: 1, partials: [] });
  });

  it('open() garbage-collects orphan chunks but keeps a partial download that can resume', async () => {
    hub.faults.cutAfterBytes = { bytes: 200_000, path: 'model.safetensors' };
    expect((await cache(hubSrc('o/single'), { retries: 0 })).ok).toBe(false);
    const before = await stats();
    await page.evaluate(() => window.alloyHarness.injectOrphanChunks(3));
    expect((await stats()).chunks).toBe(before.chunks + 3);
    await page.evaluate(() => window.alloyHarness.reopen());
    const after = await stats();
    expect(after.chunks).toBe(before.chunks);
    expect(after.partials).toEqual(before.partials);
    expect((await cache(hubSrc('o/single'))).ok).toBe(true);
  });

  it('two concurrent loads of the same model download it once', async () => {
    const ids = await page.evaluate(([s, c]) => window.alloyHarness.cacheTwice(s, c), [hubSrc('o/sharded'), CHUNK] as const);
    expect(ids[0]).toBe(ids[1]);
    expect(hub.requests.filter((q) => q.method === 'GET' && q.path.endsWith('model-00001-of-00002.safetensors')).length).toBe(1);
    expect((await list()).length).toBe(1);
  });

  it('caches the generated fixture repos served from a public/hub-shaped directory', async () => {
    // The fixtures engineer's generator; public/hub is what `npm run dev` serves as the offline demo hub.
    const { ensureFixtures, REPOS, repoId } = await import('../../../scripts/fixtures/index.ts');
    await ensureFixtures('public/hub');
    const dirHub = await startHubServer({ root: 'public/hub' });
    try {
      for (const spec of REPOS) {
        const id = repoId(spec);
        const r = await cache({ kind: 'hub', baseUrl: dirHub.url, repo: id });
        if (spec.pickleOnly) {
          expect(r).toMatchObject({ ok: false, error: { message: expect.stringMatching(/only loads safetensors/) } });
          continue;
        }
        if (!r.ok) throw new Error(`${id}: ${r.error.message}`);
        const onDisk = (p: string) => readFileSync(join('public/hub', id, 'resolve/main', p));
        const want = Object.fromEntries(r.summary.files.map((f) => [f.path, sha256Hex(onDisk(f.path))]));
        expect(r.summary.files.some((f) => f.path.endsWith('.safetensors') && f.sha256)).toBe(true);
        expect(await readBack(r.summary.id)).toEqual(want);
      }
      await screenshot(page, 'weight-cache-fixtures');
    } finally {
      await dirHub.close();
    }
  });

  it('reports storage estimate and asks for persistence', async () => {
    const est = await page.evaluate(() => window.alloyHarness.estimate());
    expect(est!.quota).toBeGreaterThan(0);
    expect(typeof (await page.evaluate(() => window.alloyHarness.persist()))).toBe('boolean');
  });
});
