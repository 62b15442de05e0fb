// End-to-end: importing a PEFT LoRA adapter into the built studio (Train panel) in Chromium. The adapters are
// written here in Node by the engine's safetensors writer, PEFT key names and all, for the demo model (tiny-llama).
// A misshapen one is refused with the tensor and both shapes named, and nothing is listed; a good one, picked as a
// folder, is listed with the training runs ("imported"), folded into a new cached model whose every tensor equals,
// bit for bit, what the CLI's `--adapter` path (io/peft.ts + lora/fold.ts on the same folder) gives, so its logits
// are the CLI's; exported again as a zip holding the same two files; and that zip, dropped on the zone, imports too.
// Screenshots in test-results/.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/adapter-import.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DIST, WAIT, cacheDemo, idOf, listModels, openStudio, requireBuild, DEMO, watchConsole } from './studio-steps.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig, type ModelConfig } from '../../src/io/config.ts';
import { readPeftAdapter } from '../../src/io/peft.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { unzipStore } from '../../src/io/zip.ts';
import { withAdapter } from '../../src/engine/lora/fold.ts';
import { peftAdapter, type PeftFiles } from '../helpers/peft-adapter.ts';

const MODEL_DIR = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const MODULES = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.mlp.down_proj'];

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
let cfg: ModelConfig;
let good: PeftFiles;
let zipPath = '';
/** the demo model's label in the cache (repo@revision and the hub it came from) */
let baseLabel = '';
const uncaught: string[] = [];

type Debug = { readTensors(id: string): Promise<{ name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]> };

function writeAdapter(dir: string, files: PeftFiles): string {
  mkdirSync(dir, { recursive: true });
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
  return dir;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const card = () => page.getByTestId('adapter-import');
const importedRows = () => page.locator('[data-testid="train-run"][data-status="imported"]');

describe('PEFT adapter import in the Train panel', () => {
  beforeAll(async () => {
    requireBuild('hub');
    tmp = mkdtempSync(join(tmpdir(), 'alloy-adapter-e2e-'));
    cfg = parseModelConfig(await readJson(dirModelFiles(MODEL_DIR), 'config.json'));
    good = await peftAdapter(cfg, { r: 4, alpha: 8, modules: MODULES, seed: 21 });
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, acceptDownloads: true });
    watchConsole(page, uncaught);
    await openStudio(page, site.url);
    await cacheDemo(page);
    baseLabel = (await listModels(page)).find((m) => m.repo === DEMO)!.label;
    await page.getByTestId('tab-train').click();
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses an adapter whose lora_A does not fit, naming the tensor and both shapes, and lists nothing', async () => {
    const a = `base_model.model.${MODULES[0]}.lora_A.weight`;
    const bad = writeAdapter(join(tmp, 'bad'), await peftAdapter(cfg, { r: 4, alpha: 8, modules: MODULES, shapes: { [a]: [4, 32] } }));
    await card().getByTestId('adapter-import-files').setInputFiles([join(bad, 'adapter_config.json'), join(bad, 'adapter_model.safetensors')]);
    await card().getByTestId('adapter-import-start').click();
    const err = card().getByTestId('error-message');
    await err.waitFor({ timeout: WAIT });
    expect(await err.textContent()).toBe(`adapter_model.safetensors: "${a}" is [4, 32], but ${baseLabel}'s "${MODULES[0]}.weight" is [64, 64]: lora_A must be [4, 64]`);
    await screenshot(page, 'adapter-import-refused');
    expect(await importedRows().count()).toBe(0);
  });

  it('imports a picked adapter folder; it is listed with the runs', async () => {
    const dir = writeAdapter(join(tmp, 'my-lora'), good);
    await card().getByTestId('adapter-import-folder').setInputFiles(dir);
    expect(await card().getByTestId('adapter-import-chosen').textContent()).toMatch(/^my-lora: (adapter_config\.json, adapter_model\.safetensors|adapter_model\.safetensors, adapter_config\.json)$/);
    await card().getByTestId('adapter-import-start').click();
    await card().getByTestId('adapter-import-notice').waitFor({ timeout: WAIT });
    expect(await card().getByTestId('adapter-import-notice').textContent()).toContain(`Imported my-lora for ${baseLabel} (r 4, alpha 8, q_proj, v_proj, down_proj on 2 layers (3 modules), F32)`);
    await importedRows().first().waitFor({ timeout: WAIT });
    const row = importedRows().filter({ hasText: 'my-lora' });
    expect(await row.getByTestId('train-run-imported').innerText()).toContain(`for ${baseLabel} · r 4 · alpha 8 · q_proj, v_proj, down_proj · 3 modules · F32`);
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'adapter-import-listed');
  });

  it('folds it into a cached model equal, tensor for tensor, to the CLI --adapter path', async () => {
    const row = importedRows().filter({ hasText: 'my-lora' });
    await row.getByTestId('train-run-fold').click();
    const folded = page.getByTestId('train-folded');
    await folded.waitFor({ timeout: WAIT });
    const id = (await folded.getAttribute('data-model-id'))!;
    expect(await folded.textContent()).toContain('tiny-llama-my-lora');
    const got = await page.evaluate(async (id) => {
      const ts = await (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.readTensors(id);
      return ts.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: Array.from(t.bytes) }));
    }, id);
    const base = await openCheckpoint(dirModelFiles(MODEL_DIR));
    const cli = withAdapter(base, await readPeftAdapter(dirModelFiles(join(tmp, 'my-lora'))));
    expect(got.map((t) => t.name).sort()).toEqual(base.names().sort());
    let adapted = 0;
    for (const t of got) {
      const want = await cli.readF32(t.name);
      expect(t.dtype).toBe('F32');
      expect(sha(new Uint8Array(t.bytes)), t.name).toBe(sha(new Uint8Array(want.buffer)));
      if (sha(new Uint8Array(t.bytes)) !== sha(await base.readRaw(t.name))) adapted++;
    }
    expect(adapted).toBe(MODULES.length);
    // an imported adapter has no next recipe stage; training goes on from the folded model
    await page.getByTestId('train-from-folded').click();
    expect(await page.getByTestId('train-model').inputValue()).toBe(id);
  });

  it('exports it again as a zip of the same two files, and that zip dropped on the zone imports too', async () => {
    const row = importedRows().filter({ hasText: 'my-lora' });
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), row.getByTestId('train-run-export').click()]);
    expect(dl.suggestedFilename()).toBe('my-lora-lora.zip');
    zipPath = join(tmp, dl.suggestedFilename());
    await dl.saveAs(zipPath);
    const entries = unzipStore(new Uint8Array(readFileSync(zipPath)));
    expect(Object.fromEntries(entries.map((e) => [e.name, sha(e.data)]))).toEqual({
      'adapter_config.json': sha(good['adapter_config.json']),
      'adapter_model.safetensors': sha(good['adapter_model.safetensors']),
    });

    // a synthetic drop of the zip (a real OS drag cannot be scripted), onto the base model picked in the card
    await card().getByTestId('adapter-import-model').selectOption(await idOf(page, DEMO));
    await page.evaluate(
      ({ name, b64 }) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: 'application/zip' }));
        const zone = document.querySelector('[data-testid="adapter-drop"]')!;
        zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      },
      { name: 'my-lora-lora.zip', b64: readFileSync(zipPath).toString('base64') },
    );
    await card().getByTestId('adapter-import-chosen').filter({ hasText: 'my-lora-lora.zip' }).waitFor({ timeout: WAIT });
    await card().getByTestId('adapter-import-start').click();
    await importedRows().filter({ hasText: 'my-lora-lora' }).waitFor({ timeout: WAIT });
    expect(await importedRows().count()).toBe(2);
    await page.getByTestId('tab-export').click();
    await page.getByTestId('export-adapter').filter({ hasText: 'my-lora-lora' }).waitFor({ timeout: WAIT });
    await screenshot(page, 'adapter-import-export-list');
    expect(uncaught).toEqual([]);
  });
});
