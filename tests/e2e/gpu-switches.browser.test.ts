// End-to-end: the studio URL's device switches, ?kernels= and ?subgroups=, reach the worker's device (sent before
// it is acquired) and the GPU badge shows their effect. Each address opens a fresh page, so a fresh worker and
// device. Run after a build: `npm run build && npx vitest run --project browser tests/e2e/gpu-switches.browser.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { serveStatic, type RunningServer } from '../helpers/static-server.ts';
import { requireBuild, WAIT, watchConsole, DIST } from './studio-steps.ts';

let site: RunningServer;
let browser: Browser;

/** The badge's kernels part (text, family, subgroups) once the worker holds a device opened with `query`. */
async function kernelsBadge(query: string, warnings: string[] = []): Promise<{ text: string; family: string | null; subgroups: string | null; features: string }> {
  const page: Page = await browser.newPage();
  const problems: string[] = [];
  watchConsole(page, problems);
  page.on('console', (m) => {
    if (m.type() === 'warning') warnings.push(m.text());
  });
  try {
    await page.goto(`${site.url}/${query}`);
    await page.waitForSelector('[data-testid="gpu-badge"][data-status="ok"]', { timeout: WAIT });
    const kernels = page.getByTestId('gpu-kernels');
    const result = {
      text: await kernels.innerText(),
      family: await kernels.getAttribute('data-family'),
      subgroups: await kernels.getAttribute('data-subgroups'),
      features: (await page.getByTestId('gpu-badge').getAttribute('title')) ?? '',
    };
    expect(problems).toEqual([]);
    return result;
  } finally {
    await page.close();
  }
}

describe('studio device switches', () => {
  beforeAll(async () => {
    requireBuild();
    site = await serveStatic(DIST);
    browser = await launchChromium();
  }, WAIT);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('?kernels=hardware&subgroups=off: the hardware family in core WGSL, forced', async () => {
    const b = await kernelsBadge('?kernels=hardware&subgroups=off');
    console.log(`?kernels=hardware&subgroups=off → "${b.text}"`);
    expect(b.family).toBe('hardware');
    expect(b.subgroups).toBe('off');
    expect(b.text).toBe('hardware kernels, subgroups off (forced)');
  }, WAIT * 2);

  it('?kernels=hardware with and without ?subgroups=on: subgroups where the device has them', async () => {
    const dflt = await kernelsBadge('?kernels=hardware');
    console.log(`?kernels=hardware → "${dflt.text}" (${dflt.features})`);
    const has = /\bsubgroups\b/.test(dflt.features);
    expect(dflt.subgroups).toBe(has ? 'on' : 'off');
    expect(dflt.text).toBe(has ? 'hardware kernels + subgroups (forced)' : 'hardware kernels (forced)');
    if (has) {
      const on = await kernelsBadge('?kernels=hardware&subgroups=on');
      expect(on.subgroups).toBe('on');
      expect(on.text).toBe('hardware kernels + subgroups (forced)');
    }
  }, WAIT * 3);

  it('a bad ?subgroups= value is reported and ignored (the device decides)', async () => {
    const warnings: string[] = [];
    const b = await kernelsBadge('?subgroups=maybe', warnings);
    expect(warnings.some((w) => w.includes('?subgroups=maybe: subgroups must be on or off'))).toBe(true);
    expect(b.family).toBe('software'); // SwiftShader, by adapter
    expect(b.text).toBe('software kernels');
  }, WAIT * 2);
});
