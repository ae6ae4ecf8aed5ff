/**
 * report.html: built from synthetic run folders, self-contained (no URL it
 * would fetch), plots rendered to SVG per metric with runs overlaid, and, in
 * Debian's chromium driven by playwright-core, rendering without console
 * errors: the plots are there, the viewer draws the image with its crops and
 * steps through the samples (skipped with a reason where chromium is absent).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { MetricsRow } from '../../lib/metrics/jsonl.js';
import { plotLayout } from '../../lib/report/plots.js';
import { STEP_METRIC_KEYS, VAL_METRIC_KEYS } from '../../lib/train/step-metrics.js';
import { readRun, writeReport } from '../../lib/report/report.js';
import { experimentSection } from '../../lib/report/experiment.js';
import { renderSvg } from '../../lib/report/plots.js';
import { videoTradeoffSpec } from '../../lib/report/video.js';
import { writeSyntheticRun } from './fixture.js';

let dir: string;
let runA: string;
let runB: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pyvision-report-'));
  runA = join(dir, 'pyvision-rl');
  runB = join(dir, 'grpo');
  await writeSyntheticRun(runA, { seed: 1 });
  await writeSyntheticRun(runB, { seed: 2, bias: 1, recipe: 'grpo' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('plot layout: every metric key in exactly one plot, grouped keys together', () => {
  const run = readRun(runA);
  const sections = plotLayout([{ name: 'a', rows: run.rows }]);
  const keys = sections.flatMap((s) => s.plots.flatMap((p) => p.keys));
  const present = new Set(run.rows.flatMap((r) => Object.keys(r)).filter((k) => k !== 'step'));
  expect(new Set(keys)).toEqual(present);
  expect(keys.length).toBe(present.size);
  const endReasons = sections.flatMap((s) => s.plots).find((p) => p.title === 'end reasons');
  expect(endReasons?.keys).toEqual(['end_reason/DONE', 'end_reason/ERROR_IN_ACTION', 'end_reason/EXCEED_MAX_TURNS']);
  // the trainer's own keys have their places: nothing of a real run's record lands in 'Other'
  const trainerKeys = [...STEP_METRIC_KEYS, ...VAL_METRIC_KEYS, 'critic/acc/color', 'val/acc/shape', 'val/acc/with_tool', 'val/acc/without_tool', 'timing/val'].filter((k) => k !== 'step');
  const layout = plotLayout([{ name: 'a', rows: [Object.fromEntries([['step', 1], ...trainerKeys.map((k) => [k, 1])]) as MetricsRow] }]);
  expect(layout.map((s) => s.title)).not.toContain('Other');
  expect(layout.flatMap((s) => s.plots.flatMap((p) => p.keys)).sort()).toEqual([...trainerKeys].sort());
  expect(sections.map((s) => s.title)).toEqual(['Reward and accuracy', 'Tool use', 'Policy update', 'Filters and end reasons', 'Speed']);
});

test('one run: report.html in the run folder, self-contained, plots as inline SVG, text escaped', async () => {
  const out = await writeReport([runA]);
  expect(out).toBe(join(runA, 'report.html'));
  const html = readFileSync(out, 'utf8');
  // nothing to fetch: no src/href to http(s), no external stylesheet or script
  expect(html).not.toMatch(/(src|href)\s*=\s*["']?https?:/i);
  expect(html).not.toMatch(/<link\b/i);
  expect(html).not.toMatch(/<script[^>]+src=/i);
  expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
  expect((html.match(/<svg[^>]*class="marks"/g) ?? []).length).toBeGreaterThanOrEqual(20);
  expect(html).toContain('data-keys="critic/acc/mean"');
  expect(html).toContain('data:image/png;base64,');
  // the summary: recipe from config.json's settings, the test evaluation, the backend
  expect(html).toMatch(/<td>pyvision-rl<\/td><td>pyvision-rl<\/td><td>1<\/td><td>20<\/td>/);
  expect(html).toContain('<td>0.600</td><td>0.400</td><td>2.00</td>');
  expect(html).toContain('<td>cpu</td>');
  // the question's markup is data: escaped in the JSON so it cannot close the script
  expect(html).not.toContain('<b>not markup</b>');
  expect(html).toContain('\\u003cb>not markup\\u003c/b>');
});

test('errors name the folder', async () => {
  await expect(writeReport([join(dir, 'nope')])).rejects.toThrow(/run folder .*nope does not exist/);
  await expect(writeReport([dir])).rejects.toThrow(/is not a run folder/);
  await expect(writeReport([])).rejects.toThrow(/at least one run folder/);
});

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.log(`report browser test skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

(hasChromium ? test : test.skip)('in headless chromium: no console errors, the plots render, the viewer steps through samples', async () => {
  // An experiment's section too (the video experiment's table and its accuracy-against-tokens plot).
  const tradeoff = {
    outDir: dir,
    arms: [
      { arm: 'on-demand', acc: { mean: 0.6, min: 0.5, max: 0.7 }, visualTokens: { mean: 28, min: 27, max: 29 } },
      { arm: 'uniform-8', acc: { mean: 0.4, min: 0.35, max: 0.45 }, visualTokens: { mean: 128, min: 128, max: 128 } },
    ],
    calibration: [
      { name: 'random answer', acc: 0.4, visualTokens: 0 },
      { name: 'uniform-8 oracle (best answer its frames allow)', acc: 0.5, visualTokens: 128 },
    ],
  };
  const svg = await renderSvg(videoTradeoffSpec(tradeoff));
  const table = '| arm | seeds | test acc |\n|---|---|---|\n| on-demand | 3 | 0.600 |\n| uniform-8 | 3 | 0.400 |';
  const sections = [{ title: 'Experiment: video', html: experimentSection(table, [{ key: 'video-acc-tokens', svg }]) }];
  const out = await writeReport([runA, runB], { out: join(dir, 'overlay.html'), sections });
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'pyvision-chromium-'));
  // a persistent context on a fresh profile folder: chromium's --user-data-dir
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith('file:') && !request.url().startsWith('data:')) requests.push(request.url());
    });
    await page.goto(pathToFileURL(out).href);
    await page.waitForSelector('#viewer[data-ready="true"]');

    // the experiment's section: its table and its plot, drawn
    expect(await page.$$eval('section.experiment tbody tr', (rows) => rows.map((r) => r.textContent))).toEqual(['on-demand30.600', 'uniform-830.400']);
    const experimentPlot = await page.$eval('section.experiment .plot[data-metric="video-acc-tokens"] svg', (s) => ({ w: s.getBoundingClientRect().width, marks: s.querySelectorAll('path').length, text: s.textContent ?? '' }));
    expect(experimentPlot.w).toBeGreaterThan(200);
    expect(experimentPlot.marks).toBeGreaterThan(0);
    expect(experimentPlot.text).toContain('on-demand');

    // plots: inline SVGs with drawn lines, two runs in the legend
    const plots = await page.$$eval('#plots .plot svg', (svgs) => svgs.map((s) => ({ w: s.getBoundingClientRect().width, paths: s.querySelectorAll('path').length })));
    expect(plots.length).toBeGreaterThanOrEqual(20);
    for (const p of plots) {
      expect(p.w).toBeGreaterThan(200);
      expect(p.paths).toBeGreaterThan(0);
    }
    const legend = await page.$eval('.plot[data-keys="critic/acc/mean"] svg', (s) => s.textContent ?? '');
    expect(legend).toContain('pyvision-rl');
    expect(legend).toContain('grpo');

    // viewer: the last evaluation of the first run, its image with two crop boxes and the target
    expect(await page.$$eval('#v-run option', (o) => o.map((x) => x.textContent))).toEqual(['pyvision-rl', 'grpo']);
    expect(await page.$eval('#v-step', (s) => (s as unknown as { selectedOptions: ArrayLike<{ textContent: string | null }> }).selectedOptions[0].textContent)).toBe('step 20 (3)');
    expect(await page.textContent('#v-pos')).toBe('1 / 3');
    expect(await page.$$eval('.v-left .v-crop', (r) => r.length)).toBe(2);
    expect(await page.$$eval('.v-left .v-target', (r) => r.length)).toBe(1);
    const loaded = await page.$$eval('#v-sample image', (images) => images.map((i) => (i as unknown as { getBBox(): { width: number } }).getBBox().width));
    expect(loaded).toHaveLength(3); // the input and the two shown crops
    expect(await page.textContent('.v-question')).toBe('What is the colour of the small square? <b>not markup</b>');
    expect(await page.$$eval('.v-code', (c) => c.map((x) => x.textContent))).toEqual([
      'c = image_clue_0.crop((64, 16, 112, 64))\nshow(c)',
      expect.stringContaining('print(mean_color(d))'),
      'print(x)',
    ]);
    expect(await page.textContent('.v-error')).toBe("NameError: name 'x' is not defined");
    expect(await page.textContent('.v-output')).toBe('(180, 60, 50)');
    expect(await page.textContent('.v-answer')).toBe('red');
    expect(await page.textContent('.v-badge')).toBe('correct');

    await page.click('#v-next');
    expect(await page.textContent('#v-pos')).toBe('2 / 3');
    expect(await page.textContent('.v-meta')).toContain('test-4');
    await page.keyboard.press('ArrowRight');
    expect(await page.textContent('#v-pos')).toBe('3 / 3');
    expect(await page.textContent('.v-badge')).toBe('wrong');
    expect(await page.isDisabled('#v-next')).toBe(true);
    await page.click('#v-prev');
    expect(await page.textContent('#v-pos')).toBe('2 / 3');

    // another evaluation, then the other run
    await page.selectOption('#v-step', '0');
    expect(await page.textContent('#v-pos')).toBe('1 / 2');
    expect(await page.textContent('.v-meta')).toContain('test-1');
    await page.selectOption('#v-run', '1');
    expect(await page.textContent('#v-pos')).toBe('1 / 2');

    await page.screenshot({ path: join(dir, 'report.png'), fullPage: false });
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    if (process.env.PYVISION_RL_REPORT_SCREENSHOT) {
      await page.selectOption('#v-run', '0');
      await page.selectOption('#v-step', '1');
      await page.screenshot({ path: process.env.PYVISION_RL_REPORT_SCREENSHOT, fullPage: true });
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
