// End-to-end: the Train panel of the built studio in Chromium (WebGPU on SwiftShader), on the demo model
// (tiny-llama) and the built-in SFT data. Plans the run (shape, rows, memory), trains a few steps with the loss chart
// filling and the loss going down, pauses and resumes; the page's losses are compared with the same run computed
// here in Node by the engine (Dawn) on the same data and seed. Then: another run cancelled with Escape; a run
// reloaded mid-way and resumed from its IndexedDB checkpoint, continuing the same steps and the same curve; the PEFT
// adapter exported as a zip (names, r/alpha/targets, tensor keys); the adapter folded into a new cached model that
// the Models panel lists, in the base's dtype; a NaN stop; and a full fine-tune (every parameter) saved as a new
// cached model. Screenshots in test-results/.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/train.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DIST, WAIT, cacheDemo, idOf, listModels, openStudio, requireBuild, watchConsole } from './studio-steps.ts';
import { unzipStore } from '../../src/io/zip.ts';
import { openSafetensors } from '../../src/io/safetensors/reader.ts';
import { bytesSource } from '../../src/io/bytes.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { readJson } from '../../src/io/model-files.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { openCheckpoint } from '../../src/io/safetensors/checkpoint.ts';
import { acquireNodeDevice } from '../../src/engine/gpu/node-gpu.ts';
import { BufferPool } from '../../src/engine/gpu/buffer-pool.ts';
import { KernelRegistry } from '../../src/engine/gpu/kernels.ts';
import { loadModel } from '../../src/engine/model/index.ts';
import { createLora } from '../../src/engine/lora/adapter.ts';
import { TrainControl, Trainer } from '../../src/engine/train/trainer.ts';
import { configOf, prepareTrainData } from '../../src/worker/train-data.ts';
import { defaultSettings } from '../../src/app/lib/train-settings.ts';
import type { TrainSettings } from '../../src/worker/train-api.ts';

const MODEL_DIR = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const TRAIN_WAIT = 170_000;
const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const;

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
const uncaught: string[] = [];

/** What the tests type into the panel (everything else stays at the defaults from defaults.ts). */
const FORM = { steps: 6, warmupSteps: 0, lr: 0.02, microBatch: 2, seqLen: 48, evalEvery: 3, checkpointEvery: 2 };
const settings = (over: Partial<TrainSettings> = {}): TrainSettings => ({
  ...defaultSettings('sft', 128, FORM.steps),
  ...FORM,
  schedule: 'constant',
  targets: [...TARGETS],
  valSplit: 0.1,
  ...over,
});

async function fillForm(values: Record<string, number>): Promise<void> {
  for (const [k, v] of Object.entries(values)) await page.getByTestId(`train-${k}`).fill(String(v));
}

/** The loss curve as drawn: (step, loss) of every point of the "train loss" series, exact values from data-y. */
async function curve(series = 'train loss'): Promise<[number, number][]> {
  return page.$$eval(`[data-testid="train-loss-point"][data-series="${series}"]`, (els) =>
    els.map((e) => [Number((e as HTMLElement).dataset.x), Number((e as HTMLElement).dataset.y)] as [number, number]),
  );
}

const progress = () => page.getByTestId('train-progress');
const waitStatus = (status: string, timeout = TRAIN_WAIT) => page.waitForSelector(`[data-testid="train-progress"][data-status="${status}"]`, { timeout });
const waitStep = (n: number) =>
  page.waitForFunction((k) => Number(document.querySelector('[data-testid="train-progress"]')?.getAttribute('data-step') ?? 0) >= k, n, { timeout: TRAIN_WAIT });

async function setupPanel(): Promise<void> {
  await page.getByTestId('tab-train').click();
  await page.getByTestId('train-method-sft').check();
  await page.getByTestId('train-data-select').selectOption('sft.jsonl');
  await page.getByTestId('train-schedule').selectOption('constant');
  for (const t of TARGETS) await page.getByTestId(`train-target-${t}`).check();
  await fillForm(FORM);
}

describe('Train panel in Chromium', () => {
  beforeAll(async () => {
    requireBuild('hub', 'demo/data/sft.jsonl');
    tmp = mkdtempSync(join(tmpdir(), 'alloy-train-e2e-'));
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 1100 }, acceptDownloads: true });
    watchConsole(page, uncaught);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('plans SFT on the built-in data: detected shape, rows, tokens and a memory plan that fits', async () => {
    await openStudio(page, site.url);
    await cacheDemo(page);
    await setupPanel();
    const stats = page.getByTestId('train-dataset-stats');
    // 41 pairs, ⌈0.1·41⌉ = 5 held out
    await page.waitForSelector('[data-testid="train-dataset-stats"][data-rows="36"]', { timeout: WAIT });
    expect(await stats.getAttribute('data-shape')).toBe('prompt-completion');
    expect(await stats.textContent()).toMatch(/Prompt \/ completion.*36 rows.*tokens.*validation: 5 rows/s);
    await page.getByTestId('train-fits').waitFor({ timeout: WAIT });
    for (const k of ['weights', 'adapter', 'optimizer', 'activations', 'total']) expect(Number(await page.getByTestId(`plan-${k}`).getAttribute('data-bytes'))).toBeGreaterThan(0);
    // a file of the user's with a bad row: the plan names the file and line, and the run cannot start
    await page.getByTestId('train-data-file').setInputFiles({
      name: 'mine.jsonl',
      mimeType: 'application/json',
      buffer: Buffer.from('{"prompt": "Q?", "completion": " A."}\n{"prompt": "Q2?", "answer": " B."}\n'),
    });
    await expect(page.getByTestId('train-plan-error').textContent({ timeout: WAIT })).resolves.toMatch(/mine\.jsonl line 2/);
    expect(await page.getByTestId('train-start').isDisabled()).toBe(true);
    await page.getByTestId('train-data-select').selectOption('sft.jsonl');
    await page.waitForSelector('[data-testid="train-dataset-stats"][data-rows="36"]', { timeout: WAIT });
    // a bad setting is named where it is typed, and blocks the start
    await fillForm({ seqLen: 500 });
    await expect(page.getByTestId('train-error-seqLen').textContent()).resolves.toMatch(/longer than the model's context \(128\)/);
    expect(await page.getByTestId('train-start').isDisabled()).toBe(true);
    await fillForm({ seqLen: FORM.seqLen });
    await page.getByTestId('train-fits').waitFor({ timeout: WAIT });
    // the form outlives a visit to another tab
    await page.getByTestId('tab-models').click();
    await page.getByTestId('tab-train').click();
    expect(await page.getByTestId('train-steps').inputValue()).toBe(String(FORM.steps));
    expect(await page.getByTestId('train-target-o_proj').isChecked()).toBe(true);
    await page.getByTestId('train-fits').waitFor({ timeout: WAIT });
    await screenshot(page, 'train-plan');
  });

  let pageLoss: number[] = [];
  it('trains with the loss chart filling and the loss going down; pause and resume', async () => {
    await page.getByTestId('train-start').click();
    // pause early (steps take well under a second on a fast host; the pause lands at the next step boundary)
    await waitStep(1);
    expect((await curve()).length).toBeGreaterThanOrEqual(1);
    await page.getByTestId('train-pause').click();
    await waitStatus('paused');
    const pausedAt = Number(await progress().getAttribute('data-step'));
    await page.waitForTimeout(1500);
    expect(Number(await progress().getAttribute('data-step'))).toBe(pausedAt);
    await screenshot(page, 'train-paused');
    await page.getByTestId('train-resume').click();
    await waitStatus('done');
    await screenshot(page, 'train-done');

    const pts = await curve();
    expect(pts.map((p) => p[0])).toEqual([1, 2, 3, 4, 5, 6]);
    const loss = pts.map((p) => p[1]);
    const val = (await curve('val loss')).map((p) => p[1]);
    console.log(`page: train loss ${loss.map((x) => x.toFixed(4)).join(' → ')}; val loss ${val.map((x) => x.toFixed(4)).join(' → ')}`);
    expect(loss.at(-1)!).toBeLessThan(loss[0]!);
    expect((loss[4]! + loss[5]!) / 2).toBeLessThan((loss[0]! + loss[1]!) / 2);
    expect(val).toHaveLength(2);
    expect(val[1]!).toBeLessThan(val[0]!);
    expect(await page.getByTestId('train-lr-point').count()).toBe(6);
    expect(await page.getByTestId('train-grad-point').count()).toBe(6);
    pageLoss = loss;
  });

  it('the page\'s losses are the engine\'s: the same run in Node (Dawn), same data preparation, seed and settings', async () => {
    const loss = pageLoss;
    expect(loss).toHaveLength(6);
    const files = dirModelFiles(MODEL_DIR);
    const cfg = parseModelConfig(await readJson(files, 'config.json'));
    const tok = await loadTokenizer(files);
    const s = settings();
    const data = prepareTrainData({ name: 'sft.jsonl', text: readFileSync('public/demo/data/sft.jsonl', 'utf8') }, null, s, tok, cfg);
    const ctx = await acquireNodeDevice();
    const pool = new BufferPool(ctx.device);
    const model = await loadModel(ctx, new KernelRegistry(ctx.device), pool, await openCheckpoint(files), cfg);
    const lora = createLora(model, { r: s.rank, alpha: s.alpha, targets: s.targets, seed: s.seed, dropout: s.dropout });
    const control = new TrainControl();
    const N = 3;
    const trainer = new Trainer(model, lora, { ...configOf(s, true), evalEvery: 0, checkpointEvery: 0 }, { train: data.train }, {
      onEvent: (e) => {
        if (e.type === 'step' && e.step >= N) control.cancel();
      },
    });
    try {
      const res = await trainer.run(control);
      const node = res.history.map((h) => h.loss);
      const rel = node.map((x, i) => Math.abs(x - loss[i]!) / Math.abs(x));
      console.log(`Node engine (Dawn): ${node.map((x) => x.toFixed(6)).join(' → ')}; page vs Node max rel diff ${Math.max(...rel).toExponential(2)}`);
      expect(node).toHaveLength(N);
      // the same kernels, data and seed on Chromium's SwiftShader and Dawn's in Node: measured identical (0)
      for (const r of rel) expect(r).toBeLessThan(1e-6);
    } finally {
      trainer.dispose();
      lora.dispose();
      model.dispose();
      pool.destroyAll();
    }
  });

  it('cancels another run with Escape; the run list says so', async () => {
    await fillForm({ steps: 40 });
    await page.getByTestId('train-start').click();
    await waitStep(1);
    await page.keyboard.press('Escape');
    await waitStatus('cancelled');
    const run = page.getByTestId('train-run').first();
    await page.waitForSelector('[data-testid="train-run"][data-status="cancelled"]', { timeout: WAIT });
    expect(Number(await run.getAttribute('data-step'))).toBeLessThan(40);
  });

  let resumedRun = '';
  const LONG = 12;
  it('reloads the page mid-run and resumes from the IndexedDB checkpoint: same steps, same curve', async () => {
    // twice the first run's steps (the constant schedule makes its first 6 the first run's), so the reload lands mid-run
    await fillForm({ steps: LONG });
    // this run recomputes activations per layer: less memory in the plan, the same numbers as the first run
    const kept = Number(await page.getByTestId('plan-activations').getAttribute('data-bytes'));
    await page.getByTestId('train-recompute').check();
    await page.waitForFunction((k) => Number(document.querySelector('[data-testid="plan-activations"]')?.getAttribute('data-bytes')) < k, kept, { timeout: WAIT });
    await page.getByTestId('train-start').click();
    await page.waitForSelector('[data-testid="train-last-checkpoint"][data-step="2"]', { timeout: TRAIN_WAIT });
    await waitStep(3);
    const before = await curve();
    const runId = await page.getByTestId('train-live').getAttribute('data-run-id');
    expect(runId).toBeTruthy();
    resumedRun = runId!;
    await page.reload();
    await page.waitForSelector('[data-testid="gpu-badge"][data-status="ok"]', { timeout: WAIT });
    await page.getByTestId('tab-train').click();
    const row = page.locator(`[data-testid="train-run"][data-run-id="${runId}"]`);
    await row.waitFor({ timeout: WAIT });
    expect(await row.getAttribute('data-status')).toBe('interrupted');
    const checkpoint = Number(await row.getAttribute('data-checkpoint'));
    expect(checkpoint).toBeGreaterThanOrEqual(2);
    await screenshot(page, 'train-interrupted');
    await row.getByTestId('train-run-resume').click();
    await page.getByTestId('train-resumed-from').waitFor({ timeout: TRAIN_WAIT });
    await waitStatus('done');
    const after = await curve();
    expect(after.map((p) => p[0])).toEqual(Array.from({ length: LONG }, (_, i) => i + 1));
    // the steps shown before the reload come back with the same numbers (checkpoint history + recomputation)
    for (const [step, l] of before) expect(after.find((p) => p[0] === step)![1]).toBe(l);
    expect(after.slice(0, 6).map((p) => p[1])).toEqual(pageLoss);
    await page.waitForSelector(`[data-testid="train-run"][data-run-id="${runId}"][data-status="done"]`, { timeout: WAIT });
    await screenshot(page, 'train-resumed');
  });

  it('exports the PEFT adapter as a zip: adapter_config.json (r, alpha, targets) + adapter_model.safetensors', async () => {
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.getByTestId('train-export').click()]);
    expect(dl.suggestedFilename()).toMatch(/^sft-.*-step12-lora\.zip$/);
    const path = join(tmp, dl.suggestedFilename());
    await dl.saveAs(path);
    const entries = unzipStore(new Uint8Array(readFileSync(path)));
    expect(entries.map((e) => e.name)).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(new TextDecoder().decode(entries[0]!.data)) as Record<string, unknown>;
    const s = settings();
    expect(config).toMatchObject({ peft_type: 'LORA', r: s.rank, lora_alpha: s.alpha, target_modules: [...TARGETS], base_model_name_or_path: 'alloy-fixtures/tiny-llama', task_type: 'CAUSAL_LM' });
    const st = await openSafetensors(bytesSource(entries[1]!.data, 'adapter_model.safetensors'));
    const keys = [...st.tensors.keys()].sort();
    expect(keys).toHaveLength(2 * TARGETS.length * 2);
    expect(keys).toContain('base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight');
    expect(st.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape).toEqual([s.rank, 64]);
    await expect(page.getByTestId('train-notice').textContent()).resolves.toMatch(/Exported the adapter of step 12/);
  });

  it('folds the adapter into a new cached model (base dtype, adapted tensors changed) that Models lists', async () => {
    await page.getByTestId('train-fold-label').fill('tiny-llama + SFT e2e');
    await page.getByTestId('train-fold').click();
    const folded = page.getByTestId('train-folded');
    await folded.waitFor({ timeout: TRAIN_WAIT });
    const id = (await folded.getAttribute('data-model-id'))!;
    expect((await listModels(page)).find((m) => m.id === id)?.label).toBe('tiny-llama + SFT e2e');
    const base = await idOf(page, 'alloy-fixtures/tiny-llama');
    type Raw = { name: string; dtype: string; bytes: Uint8Array }[];
    const read = (x: string) => page.evaluate((i) => (globalThis as unknown as { alloyDebug: { readTensors(i: string): Promise<Raw> } }).alloyDebug.readTensors(i), x);
    const [a, b] = [await read(base), await read(id)];
    expect(b.map((t) => t.name).sort()).toEqual(a.map((t) => t.name).sort());
    const same = (n: string) => {
      const x = a.find((t) => t.name === n)!;
      const y = b.find((t) => t.name === n)!;
      expect(y.dtype).toBe(x.dtype);
      return Buffer.from(x.bytes).equals(Buffer.from(y.bytes));
    };
    expect(same('model.layers.0.self_attn.q_proj.weight')).toBe(false);
    expect(same('model.layers.1.self_attn.o_proj.weight')).toBe(false);
    expect(same('model.layers.0.mlp.up_proj.weight')).toBe(true);
    expect(same('model.embed_tokens.weight')).toBe(true);
    await screenshot(page, 'train-folded');
    // the next stage of the recipe starts from the folded model: ORPO on the preference pairs
    await page.getByTestId('train-next-stage').click();
    expect(await page.getByTestId('train-model').inputValue()).toBe(id);
    expect(await page.getByTestId('train-method-orpo').isChecked()).toBe(true);
    await fillForm({ seqLen: 128 });
    await page.waitForSelector('[data-testid="train-dataset-stats"][data-shape="preference"]', { timeout: WAIT });
    await page.getByTestId('train-fits').waitFor({ timeout: WAIT });
    await screenshot(page, 'train-next-stage');
    await page.getByTestId('tab-models').click();
    await page.getByTestId('cached-model').filter({ hasText: 'tiny-llama + SFT e2e' }).waitFor({ timeout: WAIT });
    expect(resumedRun).not.toBe('');
  });

  it('stops on a NaN loss with its message, and keeps the last good checkpoint for export', async () => {
    await page.getByTestId('tab-train').click();
    await page.getByTestId('train-model').selectOption(await idOf(page, 'alloy-fixtures/tiny-llama'));
    await setupPanel();
    await fillForm({ checkpointEvery: 1, evalEvery: 0 });
    await page.getByTestId('train-fits').waitFor({ timeout: WAIT });
    // the worker writes a NaN into the adapter after step 3, so step 4's loss is NaN
    await page.evaluate(() => (globalThis as unknown as { alloyTrainDebug: { poisonAfterStep(n: number): void } }).alloyTrainDebug.poisonAfterStep(3));
    await page.getByTestId('train-start').click();
    await waitStatus('nan');
    const message = await page.getByTestId('train-stop-message').textContent();
    // step 3's checkpoint holds the weights that gave the NaN: dropped; step 2's is the last good one
    expect(message).toMatch(/^step 4: the loss is NaN; training stopped before the update .*the last good checkpoint is step 2 in IndexedDB/);
    expect((await curve()).map((p) => p[0])).toEqual([1, 2, 3]);
    await expect(page.getByTestId('train-result').textContent()).resolves.toMatch(/checkpoint step 2 \(the last good one\)/);
    const runId = await page.getByTestId('train-live').getAttribute('data-run-id');
    const row = page.locator(`[data-testid="train-run"][data-run-id="${runId}"][data-status="nan"]`);
    await row.waitFor({ timeout: WAIT });
    expect(await row.getAttribute('data-checkpoint')).toBe('2');
    await screenshot(page, 'train-nan');
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.getByTestId('train-export').click()]);
    expect(dl.suggestedFilename()).toMatch(/-step2-lora\.zip$/);
    expect(uncaught).toEqual([]);
  });

  it('trains every parameter (full): the plan beside LoRA\'s, then a new cached model with every tensor trained', async () => {
    await page.getByTestId('tab-train').click();
    await page.getByTestId('train-model').selectOption(await idOf(page, 'alloy-fixtures/tiny-llama'));
    await setupPanel();
    await page.getByTestId('train-mode-full').check();
    await page.getByTestId('train-full-note').waitFor({ timeout: WAIT });
    expect(await page.getByTestId('train-target-q_proj').count()).toBe(0);
    await fillForm({ steps: 3, checkpointEvery: 3, evalEvery: 0 });
    await page.waitForSelector('[data-testid="train-plan"][data-mode="full"][data-fits="true"]', { timeout: WAIT });
    const full = Number(await page.getByTestId('plan-total').getAttribute('data-bytes'));
    const lora = Number(await page.getByTestId('plan-other-mode').getAttribute('data-bytes'));
    console.log(`Train panel plan, tiny-llama SFT: full ${full} B, LoRA ${lora} B`);
    expect(full).toBeGreaterThan(lora);
    await page.getByTestId('train-start').click();
    await waitStatus('done');
    const saved = page.getByTestId('train-folded');
    await saved.waitFor({ timeout: TRAIN_WAIT });
    await expect(saved.textContent()).resolves.toMatch(/Saved as .*-sft-full-step3/);
    const id = (await saved.getAttribute('data-model-id'))!;
    const base = await idOf(page, 'alloy-fixtures/tiny-llama');
    type Raw = { name: string; dtype: string; bytes: Uint8Array }[];
    const read = (x: string) => page.evaluate((i) => (globalThis as unknown as { alloyDebug: { readTensors(i: string): Promise<Raw> } }).alloyDebug.readTensors(i), x);
    const [a, b] = [await read(base), await read(id)];
    expect(b.map((t) => t.name).sort()).toEqual(a.map((t) => t.name).sort());
    // every tensor trained: embeddings, norms and every projection moved (and kept the base's dtype)
    const unchanged = b.filter((t) => {
      const x = a.find((u) => u.name === t.name)!;
      expect(t.dtype).toBe(x.dtype);
      return Buffer.from(x.bytes).equals(Buffer.from(t.bytes));
    });
    expect(unchanged.map((t) => t.name)).toEqual([]);
    const runId = await page.getByTestId('train-live').getAttribute('data-run-id');
    await page.locator(`[data-testid="train-run"][data-run-id="${runId}"] [data-testid="train-run-full"]`).waitFor({ timeout: WAIT });
    await screenshot(page, 'train-full');
    expect(uncaught).toEqual([]);
  });
});
