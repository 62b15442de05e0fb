// End-to-end: the Models panel's GPU check in Chromium (SwiftShader). A quick run (SmolLM2-135M shapes, 32 rows,
// the software kernels this adapter uses): progress, every case checked against the CPU reference (the notice says
// so), the step estimates and the per-case table, and the report exported as JSON; a run of both families at
// 2048 rows is cancelled mid-way and says so. Run after a build: `npm run build && npx vitest run --project browser tests/e2e/gpu-check.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { openStudio, requireBuild, WAIT, watchConsole, DIST } from './studio-steps.ts';
import type { KernelBenchReport } from '../../src/engine/kernel-bench/run.ts';

let site: RunningServer;
let browser: Browser;
let page: Page;
let tmp: string;
const problems: string[] = [];

describe('GPU check', () => {
  beforeAll(async () => {
    requireBuild();
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    watchConsole(page, problems);
    tmp = mkdtempSync(join(tmpdir(), 'alloy-gpu-check-'));
    await openStudio(page, site.url);
    await page.getByTestId('tab-models').click();
  }, WAIT);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs, checks every case, shows estimates and every case, exports the report', async () => {
    // the badge's device info already set this adapter's defaults: 128 rows on SwiftShader
    await expect(page.getByTestId('gpu-check-rows').inputValue()).resolves.toBe('128');
    await page.getByTestId('gpu-check-rows').selectOption('32');
    await page.getByTestId('gpu-check-families').selectOption('software');
    await page.getByTestId('gpu-check-run').click();
    await page.getByTestId('job-progress').waitFor({ timeout: WAIT });
    const notice = page.getByTestId('gpu-check-notice');
    await notice.waitFor({ timeout: WAIT * 5 });
    const text = await notice.innerText();
    console.log(text);
    // 24 cases, and decode attention over an f16 KV cache at each of the 3 contexts
    expect(text).toMatch(/^GPU check done in \d+ s: all 27 cases match the CPU reference\.$/);
    await expect(page.getByTestId('gpu-check-adapter').innerText()).resolves.toMatch(/swiftshader \(software adapter\) · timed by GPU timestamps · 32 rows/i);
    const estimates = page.getByTestId('gpu-check-estimates').locator('tbody tr');
    await expect(estimates.count()).resolves.toBe(1);
    // (no f16-activation forward for the software family: —)
    await expect(estimates.first().innerText()).resolves.toMatch(/SmolLM2-135M\s+software\s+[\d.]+ (ms|µs)\s+[\d.]+ (ms|µs)\s+—\s+[\d.]+ tok\/s/);
    await page.locator('summary', { hasText: 'Every case (27)' }).click();
    await expect(page.getByTestId('gpu-check-cases').locator('tbody tr').count()).resolves.toBe(27);
    await screenshot(page, 'gpu-check');
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.getByTestId('gpu-check-export').click()]);
    const path = join(tmp, dl.suggestedFilename());
    await dl.saveAs(path);
    const report = JSON.parse(readFileSync(path, 'utf8')) as KernelBenchReport;
    expect(dl.suggestedFilename()).toBe('alloy-gpu-check.json');
    expect(report.format).toBe('alloy-kernel-bench');
    expect(report.results.length).toBe(27);
    expect(report.results.every((r) => r.family === 'software' && r.check.ok && (r.ms ?? 0) > 0)).toBe(true);
    expect(problems).toEqual([]);
  }, WAIT * 6);

  it('a long run is cancelled mid-way and says so', async () => {
    await page.getByTestId('gpu-check-rows').selectOption('2048');
    await page.getByTestId('gpu-check-families').selectOption('both');
    await page.getByTestId('gpu-check-run').click();
    await page.getByTestId('job-progress').waitFor({ timeout: WAIT });
    await page.getByTestId('cancel-job').click();
    await expect(page.getByTestId('gpu-check-notice').innerText({ timeout: WAIT * 3 })).resolves.toMatch(/^Cancelled: checking GPU kernels/);
    await expect(page.getByTestId('gpu-check-run').isEnabled()).resolves.toBe(true);
    expect(problems).toEqual([]);
  }, WAIT * 4);
});
