// Screenshot of a report.html in Debian's chromium (the docs/report.png of the README):
//   node dev/report-screenshot.mjs runs/train/report.html docs/report.png [width]
// Full page; the viewer shows the last evaluation's first sample.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [html, out, width = '1400'] = process.argv.slice(2);
if (!html || !out) {
  console.error('usage: node dev/report-screenshot.mjs REPORT.html OUT.png [width]');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'pyvision-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: Number(width), height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await context.newPage();
  await page.goto(pathToFileURL(resolve(html)).href);
  await page.waitForSelector('#viewer[data-ready="true"]');
  await page.screenshot({ path: out, fullPage: true });
  console.log(out);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
