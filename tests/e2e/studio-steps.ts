// Steps the end-to-end tests of the built studio share: where the build is, opening the studio with its debug
// hooks, caching the demo model and fixture repos from the site's own hub, and asking the worker what is cached.
// ALLOY_DIST points the tests at another build folder (e.g. one built with `npx vite build --outDir …`).
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Page } from 'playwright-core';

export const DIST = process.env.ALLOY_DIST ? resolve(process.env.ALLOY_DIST) : join(process.cwd(), 'dist');
export const WAIT = 60_000;
export const DEMO = 'alloy-fixtures/tiny-llama';

/** Fails (never skips) when the studio is not built, naming what is missing. */
export function requireBuild(...dirs: string[]): void {
  const missing = ['index.html', ...dirs].filter((d) => !existsSync(join(DIST, d)));
  if (missing.length) throw new Error(`${DIST} lacks ${missing.join(', ')}: run \`npx vite build\` before the browser tests.`);
}

/** Opens the studio with `?debug` (test hooks) and waits until the worker holds a GPU. */
export async function openStudio(page: Page, siteUrl: string): Promise<void> {
  await page.goto(`${siteUrl}/?debug`);
  await page.waitForSelector('[data-testid="gpu-badge"][data-status="ok"]', { timeout: WAIT });
}

/** Caches the built-in demo model from the Models panel (which must be showing). */
export async function cacheDemo(page: Page): Promise<void> {
  await page.getByTestId('tab-models').click();
  await page.getByTestId('load-demo').click();
  await page.getByTestId('cached-model').filter({ hasText: `${DEMO}@main` }).waitFor({ timeout: WAIT });
}

/** Caches a fixture repo through the hub form, pointed at the site's own hub (`<site>/hub`). */
export async function cacheFromHub(page: Page, siteUrl: string, repo: string): Promise<void> {
  await page.getByTestId('tab-models').click();
  if (!(await page.getByTestId('hub-base-url').isVisible())) await page.locator('summary', { hasText: 'Advanced' }).click();
  await page.getByTestId('hub-base-url').fill(`${siteUrl}/hub`);
  await page.getByTestId('hub-repo').fill(repo);
  await page.getByTestId('hub-load').click();
  await page.getByTestId('cached-model').filter({ hasText: `${repo}@main` }).waitFor({ timeout: WAIT });
}

export interface CachedSummary {
  id: string;
  label: string;
  repo: string;
  source: string;
}

type Debug = { listModels(): Promise<CachedSummary[]> };

/** The cache as the worker lists it (newest first); needs `?debug`. */
export function listModels(page: Page): Promise<CachedSummary[]> {
  return page.evaluate(() => (globalThis as unknown as { alloyDebug: Debug }).alloyDebug.listModels());
}

export async function idOf(page: Page, repo: string): Promise<string> {
  const m = (await listModels(page)).find((x) => x.repo === repo);
  if (!m) throw new Error(`${repo} is not cached`);
  return m.id;
}

/**
 * Imports a PEFT adapter folder (adapter_config.json + adapter_model.safetensors, written by the test) for the
 * model picked in the Train panel's import card (default: its first), and waits until it is listed with the runs.
 */
export async function importAdapterFolder(page: Page, dir: string, modelId?: string): Promise<void> {
  await page.getByTestId('tab-train').click();
  const card = page.getByTestId('adapter-import');
  if (modelId) await card.getByTestId('adapter-import-model').selectOption(modelId);
  await card.getByTestId('adapter-import-folder').setInputFiles(dir);
  await card.getByTestId('adapter-import-start').click();
  await page.locator('[data-testid="train-run"][data-status="imported"]').filter({ hasText: basename(dir) }).first().waitFor({ timeout: WAIT });
}

/**
 * Collects into `problems` what a user never sees but the console shows: uncaught errors, console errors (but the
 * browser's own "Failed to load resource" lines, which the panels report in words) and Svelte's warnings (printed
 * only by a development build: `NODE_ENV=development npx vite build --mode development --outDir dist-dev`, then
 * ALLOY_DIST=dist-dev). Tests end with `expect(problems).toEqual([])`.
 */
export function watchConsole(page: Page, problems: string[]): void {
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => {
    const text = m.text();
    if (/\[svelte\]|svelte\.dev\/e\//.test(text)) problems.push(`Svelte ${m.type()}: ${text}`);
    else if (m.type() === 'error' && !/^Failed to load resource/.test(text)) problems.push(`console.error: ${text}`);
  });
}
