// End-to-end: the Export panel and the browser import of the built studio in Chromium. Caches the demo model,
// downloads it as a .zip (unzipped here: every file byte for byte equal to the served fixture file) and writes it
// into a folder through the File System Access API, exports it as GGUF f32 and imports that GGUF back through the
// Models panel's file input (every tensor of the imported model equal to the original's, by SHA-256 of its stored
// bytes; f16, q8_0 and q4_k_m equal to the originals rounded / quantised and restored), exports a merge's mergekit YAML, imports the real stories260K (.bin + tok512.bin) and compares it with `alloy import`'s folder made here in
// Node, and checks that refusals (a truncated GGUF, a truncated llama2.c file, a tokenizer of another vocabulary
// size, a lone tokenizer) name the file and leave no entry behind, as does a cancel mid-import.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/export.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { cacheDemo, DEMO, DIST, idOf, listModels, openStudio, requireBuild, WAIT, watchConsole } from './studio-steps.ts';
import { unzipStore } from '../../src/io/zip.ts';
import { importLlama2cFiles } from '../../src/io/node/import-llama2c.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { encodeFromF32 } from '../../src/io/safetensors/dtypes.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { readJson } from '../../src/io/model-files.ts';
import { f32ToGgml, ggmlToF32 } from '../../src/io/gguf/quant.ts';
import { tensorTypeFor } from '../../src/io/gguf/presets.ts';
import { ggmlTypeByName } from '../../src/io/gguf/format.ts';
import { hfToGgufName } from '../../src/io/gguf/names.ts';

const FIXTURE = resolve('public/hub', DEMO, 'resolve', 'main');
const STORIES = '/work/shared/data/models/stories260K';

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
const uncaught: string[] = [];

type Debug = {
  readTensors(id: string): Promise<{ name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]>;
  listPartials(): Promise<unknown[]>;
};

/** name → "dtype shape sha256" of every stored tensor of a cached model, hashed in the page. */
function tensorDigests(id: string): Promise<Record<string, string>> {
  return page.evaluate(async (id) => {
    const ts = await (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.readTensors(id);
    const out: Record<string, string> = {};
    for (const t of ts) {
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', t.bytes as Uint8Array<ArrayBuffer>));
      out[t.name] = `${t.dtype} ${JSON.stringify(t.shape)} ${Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('')}`;
    }
    return out;
  }, id);
}

async function download(testId: string): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.getByTestId(testId).click()]);
  const path = join(tmp, dl.suggestedFilename());
  await dl.saveAs(path);
  return path;
}

async function importFiles(files: string[] | { name: string; mimeType: string; buffer: Buffer }[]): Promise<void> {
  await page.getByTestId('tab-models').click();
  await page.getByTestId('import-input').setInputFiles(files);
}

describe('Export panel and browser import in Chromium', () => {
  beforeAll(async () => {
    requireBuild('hub');
    tmp = mkdtempSync(join(tmpdir(), 'alloy-export-e2e-'));
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, acceptDownloads: true });
    watchConsole(page, uncaught);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('downloads the demo model as a .zip whose files equal the served fixture files byte for byte', async () => {
    await openStudio(page, site.url);
    await cacheDemo(page);
    const demo = (await listModels(page)).find((m) => m.repo === DEMO)! as unknown as { id: string; files: { path: string }[] };
    await page.getByTestId('tab-export').click();
    await page.getByTestId('export-model').selectOption(demo.id);
    const zip = await download('export-zip');
    expect(zip.endsWith('alloy-fixtures-tiny-llama.zip')).toBe(true);
    await page.getByTestId('export-notice').filter({ hasText: 'Saved' }).waitFor({ timeout: WAIT });
    await screenshot(page, 'export-zip');
    const entries = unzipStore(new Uint8Array(readFileSync(zip)));
    expect(entries.map((e) => e.name).sort()).toEqual(demo.files.map((f) => f.path).sort());
    expect(entries.map((e) => e.name)).toContain('model.safetensors');
    for (const e of entries) expect(Buffer.from(e.data).equals(readFileSync(join(FIXTURE, e.name))), e.name).toBe(true);
  });

  it('writes the demo model into a picked folder file by file (File System Access; the origin-private folder stands in for the picker)', async () => {
    await page.getByTestId('tab-models').click();
    await page.evaluate(() => {
      (globalThis as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => navigator.storage.getDirectory();
    });
    await page.getByTestId('tab-export').click();
    await page.getByTestId('export-model').selectOption(await idOf(page, DEMO));
    await page.getByTestId('export-folder').click();
    await page.getByTestId('export-notice').filter({ hasText: 'Wrote' }).waitFor({ timeout: WAIT });
    expect(await page.getByTestId('export-notice').textContent()).toMatch(/Wrote 6 files into .*alloy-fixtures-tiny-llama\./);
    const written = await page.evaluate(async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('alloy-fixtures-tiny-llama');
      const out: Record<string, number[]> = {};
      for await (const [name, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemFileHandle]> }).entries()) {
        out[name] = Array.from(new Uint8Array(await (await h.getFile()).arrayBuffer()));
      }
      return out;
    });
    expect(Object.keys(written).length).toBe(6);
    for (const [name, bytes] of Object.entries(written)) expect(Buffer.from(bytes).equals(readFileSync(join(FIXTURE, name))), name).toBe(true);
  });

  it('exports GGUF f32 and imports it back: every tensor equal to the original', async () => {
    const demoId = await idOf(page, DEMO);
    await page.getByTestId('export-gguf-type').selectOption('f32');
    const gguf = await download('export-gguf');
    await page.getByTestId('export-notice').filter({ hasText: /GGUF llama/ }).waitFor({ timeout: WAIT });
    expect(gguf.endsWith('alloy-fixtures-tiny-llama-f32.gguf')).toBe(true);
    expect(readFileSync(gguf).subarray(0, 4).toString('latin1')).toBe('GGUF');

    await importFiles([gguf]);
    await page.getByTestId('import-start').click();
    await page.getByTestId('import-notice').filter({ hasText: 'Imported' }).waitFor({ timeout: WAIT });
    expect(await page.getByTestId('import-notice').textContent()).toMatch(/GGUF llama: hidden 64, 2 layers, 4\/2 heads, vocab 384, F32/);
    const imported = (await listModels(page)).find((m) => m.source === 'import')!;
    expect(imported.label).toBe('alloy-fixtures-tiny-llama-f32');
    const row = page.getByTestId('cached-model').filter({ hasText: imported.label });
    await row.waitFor({ timeout: WAIT });
    expect(await row.getByTestId('model-source').textContent()).toMatch(/imported here/);
    await screenshot(page, 'export-gguf-imported');
    const [a, b] = [await tensorDigests(demoId), await tensorDigests(imported.id)];
    expect(Object.keys(a).length).toBeGreaterThan(10);
    expect(b).toEqual(a);
  });

  it('exports GGUF f16, q8_0 and q4_k_m and imports them back: F16 matrices = the originals rounded, quantised ones = quantised and restored', async () => {
    const ckpt = await openCheckpoint(dirModelFiles(FIXTURE, DEMO));
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    const cfg = parseModelConfig(await readJson(dirModelFiles(FIXTURE, DEMO), 'config.json'));
    for (const type of ['f16', 'q8_0', 'q4_k_m'] as const) {
      await page.getByTestId('tab-export').click();
      await page.getByTestId('export-model').selectOption(await idOf(page, DEMO));
      await page.getByTestId('export-gguf-type').selectOption(type);
      const gguf = await download('export-gguf');
      await page.getByTestId('export-notice').filter({ hasText: `-${type}.gguf` }).waitFor({ timeout: WAIT });
      await importFiles([gguf]);
      await page.getByTestId('import-start').click();
      await page.getByTestId('import-notice').filter({ hasText: `Imported alloy-fixtures-tiny-llama-${type}` }).waitFor({ timeout: WAIT });
      const id = (await listModels(page)).find((m) => m.label === `alloy-fixtures-tiny-llama-${type}`)!.id;
      const got = await tensorDigests(id);
      const expected: Record<string, string> = {};
      for (const name of ckpt.names()) {
        const { shape } = ckpt.info(name);
        const x = await ckpt.readF32(name);
        // norms stay F32; matrices: F16, or quantised (per llama-quantize's table) and restored to F32 on import.
        // Rows are whole blocks, so quantising in GGUF's permuted q/k row order gives the same rows.
        const ggml = ggmlTypeByName(tensorTypeFor(type, hfToGgufName(name)!, shape, cfg.numLayers, cfg.tieWordEmbeddings));
        const [dtype, bytes] =
          shape.length === 1 ? ['F32', new Uint8Array(x.buffer, x.byteOffset, x.byteLength)] : type === 'f16' ? ['F16', encodeFromF32('F16', x)] : ['F32', new Uint8Array(ggmlToF32(ggml, f32ToGgml(ggml, x)).buffer)];
        expected[name] = `${dtype} ${JSON.stringify(shape)} ${sha(bytes)}`;
      }
      expect(got).toEqual(expected);
    }
  });

  it("exports a merge's mergekit YAML (the one it was made from) and its folder with mergekit_config.yml", async () => {
    await page.getByTestId('tab-merge').click();
    await page.getByTestId('merge-parent-a').selectOption(await idOf(page, DEMO));
    await page.getByTestId('merge-parent-b').selectOption((await listModels(page)).find((m) => m.label === 'alloy-fixtures-tiny-llama-f32')!.id);
    await page.getByTestId('merge-base-a').check();
    await page.getByTestId('merge-run').click();
    const result = page.getByTestId('merge-result');
    await result.waitFor({ timeout: WAIT });
    const mergedId = (await result.getAttribute('data-model-id'))!;
    const madeWith = (await page.getByTestId('merged-yaml').innerText()).trim();

    await page.getByTestId('tab-export').click();
    await page.getByTestId('export-model').selectOption(mergedId);
    const yamlPath = await download('export-yaml');
    expect(yamlPath.endsWith('mergekit_config.yml')).toBe(true);
    expect(readFileSync(yamlPath, 'utf8').trim()).toBe(madeWith);
    const zip = unzipStore(new Uint8Array(readFileSync(await download('export-zip'))));
    expect(new TextDecoder().decode(zip.find((e) => e.name === 'mergekit_config.yml')!.data).trim()).toBe(madeWith);
    await screenshot(page, 'export-merge');
  });

  it('imports stories260K (.bin + tok512.bin) as `alloy import` does', async () => {
    const before = (await listModels(page)).length;
    await importFiles([join(STORIES, 'stories260K.bin'), join(STORIES, 'tok512.bin')]);
    expect(await page.getByTestId('import-files').textContent()).toBe('stories260K.bin + tok512.bin');
    await page.getByTestId('import-start').click();
    await page.getByTestId('import-notice').filter({ hasText: 'Imported stories260K' }).waitFor({ timeout: WAIT });
    const models = await listModels(page);
    expect(models.length).toBe(before + 1);
    const id = models.find((m) => m.repo === 'stories260K' && m.source === 'import')!.id;
    await screenshot(page, 'import-stories260K');

    const out = join(tmp, 'stories-cli');
    await importLlama2cFiles(join(STORIES, 'stories260K.bin'), out, join(STORIES, 'tok512.bin'));
    const ckpt = await openCheckpoint(dirModelFiles(out, 'stories-cli'));
    const expected: Record<string, string> = {};
    for (const name of ckpt.names()) {
      const { dtype, shape } = ckpt.info(name);
      expected[name] = `${String(dtype)} ${JSON.stringify(shape)} ${createHash('sha256').update(await ckpt.readRaw(name)).digest('hex')}`;
    }
    expect(await tensorDigests(id)).toEqual(expected);
    // the other files (config, tokenizer) as the CLI writes them
    const entry = models.find((m) => m.id === id) as unknown as { files: { path: string; size: number }[] };
    for (const f of readdirSync(out)) expect(entry.files.find((x) => x.path === f)?.size, f).toBe(statSync(join(out, f)).size);

    // the imported model is offered to the other panels
    await page.getByTestId('tab-chat').click();
    await expect.poll(() => page.locator('option', { hasText: 'stories260K' }).count(), { timeout: WAIT }).toBeGreaterThan(0);
  });

  it('refuses a truncated GGUF, a truncated llama2.c file, a vocabulary size mismatch and a lone tokenizer, naming the file, leaving no entry', async () => {
    const before = (await listModels(page)).length;
    const gguf = readdirSync(tmp).find((f) => f.endsWith('.gguf'))!;
    const bytes = readFileSync(join(tmp, gguf));
    await importFiles([{ name: 'cut.gguf', mimeType: 'application/octet-stream', buffer: bytes.subarray(0, Math.floor(bytes.length * 0.6)) }]);
    await page.getByTestId('import-start').click();
    const box = page.getByTestId('import-drop').locator('xpath=..').getByTestId('error-box');
    await box.waitFor({ timeout: WAIT });
    expect(await box.textContent()).toMatch(/cut\.gguf/);
    await screenshot(page, 'import-refused-gguf');

    const bin = readFileSync(join(STORIES, 'stories260K.bin'));
    await importFiles([
      { name: 'stories260K.bin', mimeType: 'application/octet-stream', buffer: bin.subarray(0, bin.length - 100) },
      { name: 'tok512.bin', mimeType: 'application/octet-stream', buffer: readFileSync(join(STORIES, 'tok512.bin')) },
    ]);
    await page.getByTestId('import-start').click();
    await box.filter({ hasText: 'size does not match its llama2.c header' }).waitFor({ timeout: WAIT });
    expect(await box.textContent()).toMatch(/stories260K\.bin: size does not match.*expected \d+ bytes, actual \d+ bytes/);

    // a tokenizer of another vocabulary size: tok512.bin's first 300 tokens
    const tok = readFileSync(join(STORIES, 'tok512.bin'));
    let end = 4;
    for (let i = 0; i < 300; i++) end += 8 + tok.readInt32LE(end + 4);
    await importFiles([
      { name: 'stories260K.bin', mimeType: 'application/octet-stream', buffer: bin },
      { name: 'tok300.bin', mimeType: 'application/octet-stream', buffer: tok.subarray(0, end) },
    ]);
    await page.getByTestId('import-start').click();
    await box.filter({ hasText: 'tok300.bin has 300 tokens' }).waitFor({ timeout: WAIT });
    expect(await box.textContent()).toMatch(/tok300\.bin has 300 tokens but stories260K\.bin was trained with a vocabulary of 512/);

    await importFiles([join(STORIES, 'tok512.bin')]);
    expect(await page.getByTestId('import-plan-error').textContent()).toMatch(/tok512\.bin is a tokenizer/);

    expect((await listModels(page)).length).toBe(before);
    expect(await page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.listPartials())).toEqual([]);
    expect(uncaught).toEqual([]);  });

  it('cancels an import mid-way: no entry, no partial left', async () => {
    // a 63 MB llama2.c checkpoint of zeros (dim 512, hidden 1024, 6 layers, vocab 512 = tok512.bin's)
    const [dim, hid, layers, heads, vocab, seq] = [512, 1024, 6, 8, 512, 64];
    const floats = vocab * dim + layers * (2 * dim + 4 * dim * dim + 3 * dim * hid) + dim + seq * (dim / heads);
    const big = Buffer.alloc(28 + floats * 4);
    [dim, hid, layers, heads, heads, vocab, seq].forEach((x, i) => big.writeInt32LE(x, i * 4));
    const path = join(tmp, 'zeros.bin');
    writeFileSync(path, big);
    const before = (await listModels(page)).length;
    await importFiles([path, join(STORIES, 'tok512.bin')]);
    await page.getByTestId('import-start').click();
    const card = page.getByTestId('import-drop').locator('xpath=..');
    await card.getByTestId('cancel-job').click({ timeout: WAIT });
    await page.getByTestId('import-notice').filter({ hasText: 'Cancelled' }).waitFor({ timeout: WAIT });
    await screenshot(page, 'import-cancelled');
    expect((await listModels(page)).length).toBe(before);
    expect(await page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.listPartials())).toEqual([]);
    expect(uncaught).toEqual([]);
  });
});
