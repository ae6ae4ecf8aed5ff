/**
 * report.html of one or several run folders: a summary table, the metrics over
 * steps (runs overlaid, SVG rendered by vega in Node), each run's settings,
 * and the trajectory viewer over samples/. One self-contained file: styles,
 * plots, images (PNG data URLs) and the viewer's script are inline, nothing is
 * fetched, so it opens offline from disk.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

import { METRICS_FILE } from '../metrics/logger.js';
import { readMetricsJsonl, type MetricsRow } from '../metrics/jsonl.js';
import { encodePng } from '../metrics/png.js';
import { readSamples, type SampleRecord, type SampleSet } from '../metrics/samples.js';
import { PyVisionError } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';
import type { RgbImage } from '../util/rgb.js';
import { renderPlots } from './plots.js';
import { VIEWER_SCRIPT } from './viewer.js';

/** What the report reads of one run folder. */
export interface RunData {
  dir: string;
  /** Legend name: the folder's name (made unique across the runs). */
  name: string;
  /** The run's settings (config.json's `config`), or null when absent. */
  config: Record<string, unknown> | null;
  /** The rest of config.json: package version, backend, world, policy size... */
  meta: Record<string, unknown>;
  /** The final test evaluation (the last line of eval-test.jsonl), when the run got there. */
  test: { acc?: number; tool_call_mean?: number; n?: number } | null;
  /** The same with the tools disabled. */
  testNoTools: { acc?: number } | null;
  rows: MetricsRow[];
  samples: SampleSet[];
}

export interface ReportOptions {
  /** Output file; by default report.html in the first run folder. */
  out?: string;
  /** Evaluations of each run shown in the viewer (the first, the last, and evenly between); 6 by default. */
  maxSampleSets?: number;
  /** Page title. */
  title?: string;
  /**
   * Sections shown after the summary, each a heading and an HTML block inserted as it is (the
   * package's own, e.g. an experiment's table and plots: experimentSection); not for untrusted text.
   */
  sections?: ReadonlyArray<{ title: string; html: string }>;
}

/** Reads a run folder: metrics.jsonl, config.json and samples/ (each optional, but not all absent). */
export function readRun(dir: string, name = basename(resolve(dir))): RunData {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new PyVisionError('E_IO', `run folder ${dir} does not exist`);
  const metricsPath = join(dir, METRICS_FILE);
  const configPath = join(dir, 'config.json');
  const rows = existsSync(metricsPath) ? readMetricsJsonl(metricsPath) : [];
  let config: Record<string, unknown> | null = null;
  let meta: Record<string, unknown> = {};
  if (existsSync(configPath)) {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (error) {
      throw new PyVisionError('E_IO', `cannot read ${configPath}: ${(error as Error).message}`);
    }
    // the trainer writes { package, version, backend, ..., config: { every setting } }
    if (raw && typeof raw.config === 'object' && raw.config !== null && !Array.isArray(raw.config)) {
      const { config: settings, ...rest } = raw;
      config = settings as Record<string, unknown>;
      meta = rest;
    } else {
      config = raw;
    }
  }
  let test: RunData['test'] = null;
  let testNoTools: RunData['testNoTools'] = null;
  const evalPath = join(dir, 'eval-test.jsonl');
  if (existsSync(evalPath)) {
    const lines = readFileSync(evalPath, 'utf8').split('\n').filter((l) => l.trim());
    try {
      const lastLine = JSON.parse(lines[lines.length - 1] ?? 'null') as { test?: RunData['test']; testNoTools?: RunData['testNoTools'] } | null;
      test = lastLine?.test ?? null;
      testNoTools = lastLine?.testNoTools ?? null;
    } catch {
      // a cut-short last line: no test result shown
    }
  }
  const samples = readSamples(dir);
  if (!existsSync(metricsPath) && samples.length === 0 && config === null) {
    throw new PyVisionError('E_IO', `${dir} is not a run folder (no ${METRICS_FILE}, config.json or samples/)`);
  }
  return { dir, name, config, meta, test, testNoTools, rows, samples };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON inside <script type="application/json">: '<' escaped so no '</script>' can end it. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function dataUrl(image: RgbImage): { src: string; width: number; height: number } {
  return { src: `data:image/png;base64,${encodePng(image).toString('base64')}`, width: image.width, height: image.height };
}

/** Up to n of the sets: the first, the last and evenly spaced between. */
function pickSets(sets: readonly SampleSet[], n: number): SampleSet[] {
  if (sets.length <= n) return [...sets];
  if (n <= 1) return [sets[sets.length - 1]];
  const picked = new Set<number>();
  for (let i = 0; i < n; i++) picked.add(Math.round((i * (sets.length - 1)) / (n - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => sets[i]);
}

function viewerSample(s: SampleRecord): unknown {
  return { ...s, image: s.image ? dataUrl(s.image) : null, shown: s.shown.map(dataUrl) };
}

function last(rows: readonly MetricsRow[], key: string): number | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    const v = rows[i][key];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

function mean(rows: readonly MetricsRow[], key: string): number | null {
  const values = rows.map((r) => r[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

function fmt(value: number | null, digits = 3): string {
  return value === null ? '–' : value.toFixed(digits);
}

function summaryTable(runs: readonly RunData[]): string {
  const columns: Array<[string, (r: RunData) => string]> = [
    ['run', (r) => escapeHtml(r.name)],
    ['recipe', (r) => escapeHtml(String(r.config?.recipe ?? '–'))],
    ['seed', (r) => escapeHtml(String(r.config?.seed ?? '–'))],
    ['steps', (r) => String(r.rows.length ? r.rows[r.rows.length - 1].step : 0)],
    ['reward (last)', (r) => fmt(last(r.rows, 'critic/score/mean'))],
    ['train acc (last)', (r) => fmt(last(r.rows, 'critic/acc/mean'))],
    ['val acc (last)', (r) => fmt(last(r.rows, 'val/acc'))],
    ['tool calls (last)', (r) => fmt(last(r.rows, 'agent/tool_call_mean'), 2)],
    ['no-tool share (last)', (r) => fmt(last(r.rows, 'agent/tool_call_zero_ratio'))],
    ['test acc', (r) => fmt(typeof r.test?.acc === 'number' ? r.test.acc : null)],
    ['test acc, no tools', (r) => fmt(typeof r.testNoTools?.acc === 'number' ? r.testNoTools.acc : null)],
    ['test tool calls', (r) => fmt(typeof r.test?.tool_call_mean === 'number' ? r.test.tool_call_mean : null, 2)],
    ['s / step (mean)', (r) => fmt(mean(r.rows, 'timing/step'), 2)],
    ['backend', (r) => escapeHtml(String(r.meta.backend ?? '–'))],
  ];
  const head = columns.map(([name]) => `<th>${escapeHtml(name)}</th>`).join('');
  const body = runs.map((r) => `<tr>${columns.map(([, cell]) => `<td>${cell(r)}</td>`).join('')}</tr>`).join('\n');
  return `<table class="summary"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Settings that differ between the runs (all of them for one run, in <details>). */
function settingsSection(runs: readonly RunData[]): string {
  const withConfig = runs.filter((r) => r.config);
  if (withConfig.length === 0) return '<p class="note">No config.json in the run folder(s).</p>';
  const keys = [...new Set(withConfig.flatMap((r) => Object.keys(r.config!)))];
  const differ = keys.filter((k) => new Set(withConfig.map((r) => JSON.stringify(r.config![k]))).size > 1);
  let out = '';
  if (runs.length > 1) {
    out += differ.length
      ? `<table class="settings"><thead><tr><th>setting</th>${runs.map((r) => `<th>${escapeHtml(r.name)}</th>`).join('')}</tr></thead><tbody>` +
        differ
          .map((k) => `<tr><td>${escapeHtml(k)}</td>${runs.map((r) => `<td>${escapeHtml(r.config ? JSON.stringify(r.config[k]) ?? '–' : '–')}</td>`).join('')}</tr>`)
          .join('') +
        '</tbody></table>'
      : '<p class="note">The runs have the same settings.</p>';
  }
  for (const r of withConfig) {
    const whole = Object.keys(r.meta).length ? { ...r.meta, config: r.config } : r.config;
    out += `<details><summary>config.json of ${escapeHtml(r.name)}</summary><pre>${escapeHtml(JSON.stringify(whole, null, 2))}</pre></details>`;
  }
  return out;
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 16px 24px; color: #222; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; } h3 { font-size: 15px; margin: 16px 0 6px; color: #444; }
.note { color: #666; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; } th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f5f5f5; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; } .plot { border: 1px solid #eee; padding: 4px; }
details pre { background: #f8f8f8; padding: 8px; font-size: 12px; max-height: 400px; overflow: auto; }
#viewer .controls { display: flex; gap: 8px; align-items: center; margin: 8px 0; font-size: 14px; }
#v-sample { display: flex; gap: 16px; align-items: flex-start; }
.v-left { flex: 0 0 auto; } .v-right { flex: 1 1 auto; min-width: 0; }
.v-figure { margin: 4px 0; } .v-figure figcaption { font-size: 12px; color: #555; } .v-image { border: 1px solid #ccc; background: #000; }
.v-head { display: flex; gap: 8px; align-items: center; font-size: 13px; } .v-badge { padding: 1px 8px; border-radius: 8px; color: #fff; }
.v-ok { background: #2e7d32; } .v-bad { background: #c62828; } .v-meta { color: #555; }
.v-question { font-size: 15px; font-weight: 600; margin: 8px 0 2px; } .v-options { font-size: 13px; color: #444; margin: 0 0 8px; }
.v-turns { padding-left: 20px; } .v-turn { margin-bottom: 10px; } .v-label { font-size: 12px; color: #777; text-transform: uppercase; }
.v-turn pre { margin: 2px 0; padding: 6px 8px; white-space: pre-wrap; word-break: break-word; font-size: 12px; border-radius: 4px; }
.v-code { background: #f3f6fa; border-left: 3px solid #4363d8; } .v-output { background: #f7f7f7; border-left: 3px solid #999; }
.v-error { background: #fdecea; border-left: 3px solid #c62828; } .v-answer { background: #edf7ed; border-left: 3px solid #2e7d32; }
.v-verdict { font-size: 14px; } .v-empty { color: #777; }
`;

/** The report's HTML for already-read runs. */
export async function renderReport(runs: readonly RunData[], options: ReportOptions = {}): Promise<string> {
  if (runs.length === 0) throw new PyVisionError('E_ARG', 'report needs at least one run folder');
  const maxSets = options.maxSampleSets ?? 6;
  const sections = await renderPlots(runs.map((r) => ({ name: r.name, rows: r.rows })));
  const title = options.title ?? `pyvision-rl report: ${runs.map((r) => r.name).join(', ')}`;
  const plotsHtml = sections.length
    ? sections
        .map(
          (section) =>
            `<h3>${escapeHtml(section.title)}</h3>\n<div class="plots">\n` +
            section.plots.map((p) => `<div class="plot" data-keys="${escapeHtml(p.keys.join(' '))}">${p.svg}</div>`).join('\n') +
            '\n</div>',
        )
        .join('\n')
    : '<p class="note">No metrics yet (metrics.jsonl is empty or absent).</p>';
  const viewerData = {
    runs: runs.map((r) => ({
      name: r.name,
      sets: pickSets(r.samples, maxSets).map((set) => ({ step: set.step, samples: set.samples.map(viewerSample) })),
    })),
  };
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="note">Written ${escapeHtml(new Date().toISOString())} from ${runs.map((r) => escapeHtml(r.dir)).join(', ')}. Everything is in this file; it opens offline.</p>
<h2>Summary</h2>
${summaryTable(runs)}
${(options.sections ?? []).map((x) => `<h2>${escapeHtml(x.title)}</h2>\n<section class="experiment">\n${x.html}\n</section>`).join('\n')}
<h2>Metrics over steps</h2>
<section id="plots">
${plotsHtml}
</section>
<h2>Trajectories</h2>
<section id="viewer">
<div class="controls">
<label>run <select id="v-run"></select></label>
<label>evaluation <select id="v-step"></select></label>
<button id="v-prev" type="button">&#8249; previous</button>
<span id="v-pos"></span>
<button id="v-next" type="button">next &#8250;</button>
<span class="note">(arrow keys too)</span>
</div>
<div id="v-sample"></div>
</section>
<h2>Settings</h2>
${settingsSection(runs)}
<script type="application/json" id="samples-data">${scriptJson(viewerData)}</script>
<script>${VIEWER_SCRIPT}</script>
</body>
</html>
`;
}

/** Reads the run folders and writes report.html (atomically); returns its path. */
export async function writeReport(dirs: readonly string[], options: ReportOptions = {}): Promise<string> {
  if (dirs.length === 0) throw new PyVisionError('E_ARG', 'report needs at least one run folder');
  const names = new Map<string, number>();
  const runs = dirs.map((dir) => {
    let name = basename(resolve(dir));
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    if (seen > 0) name = `${name} (${seen + 1})`;
    return readRun(dir, name);
  });
  const html = await renderReport(runs, options);
  const out = options.out ?? join(dirs[0], 'report.html');
  writeFileAtomic(out, html);
  return out;
}
