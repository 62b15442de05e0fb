// Renders public/favicon.svg to the PNG icons the web app manifest lists (installable PWAs want 192 and 512
// pixel PNGs). Run once after changing the logo: `npx tsx scripts/make-icons.ts`; the PNGs are committed.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';

const svg = readFileSync('public/favicon.svg', 'utf8');
mkdirSync('public/icons', { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.ALLOY_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  for (const size of [192, 512]) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    await page.setContent(`<body style="margin:0">${svg.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body>`);
    await page.screenshot({ path: `public/icons/icon-${size}.png`, omitBackground: true });
    await page.close();
  }
} finally {
  await browser.close();
}
