// End-to-end: the Recipe panel's hand-off card in the built studio (Chromium). Names the base model, downloads the
// cluster folder as a .zip (unzipped here: every file equal to the golden export checked in under
// tests/engine/recipe/golden/cluster-demo), then loads a TRL stage config through the file input and sees what did
// not carry over listed and the export follow the loaded recipe until it is put away.
// Run after a build: `npm run build && npx vitest run --project browser tests/e2e/recipe-export.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DIST, WAIT, openStudio, requireBuild, watchConsole } from './studio-steps.ts';
import { unzipStore } from '../../src/io/zip.ts';

const GOLDEN = resolve('tests/engine/recipe/golden/cluster-demo');
let site: RunningServer;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];

function goldenFiles(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(GOLDEN, p).split('\\').join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(GOLDEN);
  return out;
}

async function downloadZip(): Promise<Map<string, string>> {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.getByTestId('recipe-export-zip').click()]);
  const path = await dl.path();
  const dec = new TextDecoder();
  const entries = unzipStore(new Uint8Array(readFileSync(path)));
  const top = entries[0]!.name.split('/')[0]!;
  expect(entries.every((e) => e.name.startsWith(`${top}/`))).toBe(true);
  expect(dl.suggestedFilename()).toBe(`${top}.zip`);
  return new Map(entries.map((e) => [e.name.slice(top.length + 1), dec.decode(e.data)]));
}

describe('Recipe hand-off in Chromium', () => {
  beforeAll(async () => {
    requireBuild('demo/village');
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1400 }, acceptDownloads: true });
    watchConsole(page, uncaught);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('downloads the demo recipe as the golden cluster folder', async () => {
    await openStudio(page, site.url);
    await page.getByTestId('tab-recipe').click();
    const zipButton = page.getByTestId('recipe-export-zip');
    await expect(zipButton.isDisabled()).resolves.toBe(true); // no base model named yet
    await page.getByTestId('recipe-export-model').fill('HuggingFaceTB/SmolLM2-135M-Instruct');
    const files = await downloadZip();
    expect(files).toEqual(goldenFiles());
    await expect(page.getByTestId('recipe-export-status').textContent()).resolves.toMatch(/Saved demo-instruct-cpt-sft-orpo-slerp-on-sunny-hill-cluster\.zip \(20 files\)/);
    await screenshot(page, 'recipe-export-01');
  });

  it('loads a TRL stage config, lists what did not carry over, and exports that recipe', async () => {
    const yaml = 'model_name_or_path: org/model\nuse_peft: true\nlora_r: 4\nlora_alpha: 8\ndataset_name: demo/village/preference.jsonl\nbeta: 0.2\nmax_steps: 5\nneftune_noise_alpha: 5\n';
    await page.getByTestId('recipe-load').setInputFiles({ name: 'config_orpo.yaml', mimeType: 'text/yaml', buffer: Buffer.from(yaml) });
    await expect(page.getByTestId('recipe-loaded').textContent()).resolves.toMatch(/Running config_orpo\.yaml \(a TRL stage config\)/);
    await expect(page.getByTestId('recipe-load-warnings').textContent()).resolves.toMatch(/not carried over: neftune_noise_alpha/);
    const files = await downloadZip();
    const stage = files.get('recipes/config-orpo/ORPO/config_lora.yaml')!;
    // the loaded config names its model: the base-model field takes it
    await expect(page.getByTestId('recipe-export-model').inputValue()).resolves.toBe('org/model');
    expect(stage).toMatch(/model_name_or_path: org\/model\n/);
    expect(stage).toMatch(/lora_r: 4\n[^]*beta: 0\.2\n/);
    expect(files.get('data/ORPO/train.jsonl')).toBe(goldenFiles().get('data/ORPO/train.jsonl'));
    await page.getByTestId('recipe-unload').click();
    await expect(page.getByTestId('recipe-loaded').count()).resolves.toBe(0);
    expect(uncaught).toEqual([]);
  });
});
