// End-to-end: the Recipe panel of the built studio in Chromium (WebGPU on SwiftShader). Caches the demo model
// (tiny-llama), opens Recipe, sets the demo recipe to 5% of its steps (1/4/1) and four benchmark items, and clicks
// the one button: the stage timeline fills with a live loss curve per stage, the merges' progress, the scores and
// general-story perplexity stream in per variant (the study's SLERP and the t-sweep's three), and the synergy and
// trade-off charts appear. The stage models and the merge are then in the model cache under
// the lineage names the CLI uses, so the other panels list them.
// Run after a build: `npx vite build && npx vitest run --project browser tests/e2e/recipe.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { DIST, WAIT, cacheDemo, listModels, openStudio, requireBuild, watchConsole } from './studio-steps.ts';
import { demoRecipe } from '../../src/engine/recipe/presets.ts';
import { recipeVariants } from '../../src/engine/recipe/runner.ts';
import { stageSteps } from '../../src/engine/recipe/spec.ts';

/** the demo's steps × this: 1/4/1 optimizer steps (every stage of the demo gives its steps, so units do not matter) */
const SCALE = 0.05;

let site: RunningServer;
let browser: Browser;
let page: Page;
const uncaught: string[] = [];
/** SwiftShader in a page trains a few steps a minute on a shared machine */
const RUN = 840_000;

describe('Recipe panel in Chromium', () => {
  beforeAll(async () => {
    requireBuild('hub', 'demo/village');
    site = await serveStatic(DIST);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    watchConsole(page, uncaught);
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it("runs the study's recipe on the demo in one click until the synergy chart appears", async () => {
    await openStudio(page, site.url);
    await cacheDemo(page);
    await page.getByTestId('tab-recipe').click();
    const run = page.getByTestId('recipe-run');
    await expect(run.textContent()).resolves.toContain("Run the study's recipe on the demo");
    await page.getByTestId('recipe-steps-scale').fill(String(SCALE));
    await page.getByTestId('recipe-bench-limit').fill('4');
    await run.click();

    // the timeline: three stages, each with its own loss chart once it has stepped
    await page.locator('[data-testid="recipe-stage"][data-stage="CPT"] [data-testid="recipe-loss-point"]').first().waitFor({ timeout: RUN });
    await screenshot(page, 'recipe-01-training');
    await page.locator('[data-testid="recipe-merge"][data-status="done"]').waitFor({ timeout: RUN });
    await page.locator('[data-testid="recipe-score"]').first().waitFor({ timeout: RUN });
    await page.getByTestId('recipe-synergy').waitFor({ timeout: RUN });
    // one synergy card per merge: the study's SLERP first, then the t-sweep's
    await page.getByTestId('synergy-merge').first().waitFor({ timeout: WAIT });
    await expect(page.getByTestId('synergy-merge').count()).resolves.toBe(1 + demoRecipe().merge!.sweep.length);
    await page.getByTestId('recipe-synergy').scrollIntoViewIfNeeded();
    const shot = await screenshot(page, 'recipe-02-synergy');
    console.log(`screenshot: ${shot}`);

    const stages = page.getByTestId('recipe-stage');
    await expect(stages.count()).resolves.toBe(3);
    for (const [name, steps] of demoRecipe().stages.map((s) => [s.name, stageSteps(s, 1, SCALE)] as const)) {
      const st = page.locator(`[data-testid="recipe-stage"][data-stage="${name}"]`);
      await expect(st.getAttribute('data-status')).resolves.toBe('done');
      await expect(st.getByTestId('recipe-loss-point').count()).resolves.toBe(steps);
    }
    const rows = page.getByTestId('recipe-score');
    const variants = recipeVariants(demoRecipe(), 'tiny-llama');
    await expect(rows.count()).resolves.toBe(variants.length);
    for (const status of await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-status')))) expect(status).toBe('done');
    // every variant's perplexity of the general stories, a number; and the trade-off chart along the t-sweep
    for (const p of await page.getByTestId('recipe-perplexity').allTextContents()) expect(Number(p)).toBeGreaterThan(1);
    await expect(page.getByTestId('recipe-tradeoff-chart').getByTestId('chart-point').count()).resolves.toBe(2 + demoRecipe().merge!.sweep.length);
    const line = await page.getByTestId('recipe-synergy-line').textContent();
    console.log(line);
    expect(line).toMatch(/^synergy \(acc\): tiny-llama-CPT-SFT-ORPO-SLERP \d+\.\d% vs /);
    // the Benchmark panel's synergy view found both parents of the merge among the run's variants
    await expect(page.getByTestId('synergy-merge').first().locator('.small.muted').first().textContent()).resolves.toMatch(/^parents: alloy-fixtures\/tiny-llama@main[^,]*, tiny-llama-CPT-SFT-ORPO$/);

    // every variant is a cache entry the other panels list
    const labels = (await listModels(page)).map((m) => m.label);
    for (const v of variants.filter((x) => x.kind !== 'base')) expect(labels).toContain(v.label);
    expect(uncaught).toEqual([]);
  }, 900_000);
});
