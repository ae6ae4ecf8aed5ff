/**
 * The plots of an experiment (collapse, ablations): for each series (tool
 * calls per trajectory, share calling a tool, validation accuracy, correct
 * with negative advantage, ...) one plot over steps with a line per arm (the
 * mean over seeds) and a band from the seeds' min to max. Written as SVG
 * files (for docs/) and as one self-contained experiment.html with the table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

import { PyVisionError } from '../util/errors.js';
import { writeFileAtomic } from '../util/files.js';
import { renderSvg } from './plots.js';

/** What the plots need of an experiment's result (lib/train's ExperimentReport has it). */
export interface ExperimentSeries {
  name: string;
  outDir: string;
  /** arm -> metric -> per step { step, mean, min, max } over seeds. */
  series: Record<string, Record<string, ReadonlyArray<{ step: number; mean: number; min: number; max: number }>>>;
  /** The table as markdown. */
  markdown: string;
}

/** The vega-lite spec of one series over the arms: mean lines, min-max bands. */
export function experimentSpec(metric: string, experiment: ExperimentSeries): TopLevelSpec {
  const values: Array<{ arm: string; step: number; mean: number; min: number; max: number }> = [];
  for (const [arm, metrics] of Object.entries(experiment.series)) {
    for (const p of metrics[metric] ?? []) {
      if ([p.step, p.mean, p.min, p.max].every(Number.isFinite)) values.push({ arm, ...p });
    }
  }
  const x = { field: 'step', type: 'quantitative' as const, title: 'step' };
  const color = { field: 'arm', type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const, columns: 2, labelLimit: 260 } };
  return {
    width: 360,
    height: 180,
    title: { text: `${metric} (mean over seeds, band: min to max)`, fontSize: 12, anchor: 'start' },
    data: { values },
    layer: [
      { mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'min', type: 'quantitative', title: null, scale: { zero: false } }, y2: { field: 'max' }, color } },
      { mark: { type: 'line', point: { size: 16 }, strokeWidth: 1.5 }, encoding: { x, y: { field: 'mean', type: 'quantitative' }, color } },
    ],
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A markdown table (| a | b |) as an HTML table. */
export function markdownTable(markdown: string): string {
  const rows = markdown
    .split('\n')
    .filter((l) => l.trim().startsWith('|') && !/^\|\s*-/.test(l.trim()))
    .map((l) => l.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim()));
  if (rows.length === 0) return '';
  const [head, ...body] = rows;
  return `<table><thead><tr>${head.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr></thead><tbody>${body
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** File name of a metric's plot: `agent/tool_call_mean` -> `agent_tool_call_mean.svg`. */
export function plotFileName(metric: string): string {
  return `${metric.replace(/[^A-Za-z0-9]+/g, '_')}.svg`;
}

/** An experiment's table and plots as one HTML block (for experiment.html and report.html). */
export function experimentSection(markdown: string, plots: ReadonlyArray<{ key: string; svg: string }>): string {
  const inline = plots.map((p) => `<div class="plot" data-metric="${escapeHtml(p.key)}">${p.svg}</div>`);
  return `${markdownTable(markdown)}\n<div class="plots">${inline.join('\n')}</div>`;
}

/**
 * Writes `experiment.html` into `outDir`: the experiment's table and plots (the SVG texts) in one
 * self-contained page, atomically; returns its path.
 */
export function writeExperimentPage(outDir: string, name: string, markdown: string, plots: ReadonlyArray<{ key: string; svg: string }>): string {
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pyvision-rl experiment: ${escapeHtml(name)}</title>
<style>body { font-family: system-ui, sans-serif; margin: 16px 24px; } table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th:first-child, td:first-child { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; } .plot { border: 1px solid #eee; padding: 4px; }</style></head>
<body><h1>Experiment: ${escapeHtml(name)}</h1>
<p>Mean (min-max) over seeds. Each run is an ordinary run folder in ${escapeHtml(outDir)}; report.html there overlays them.</p>
${experimentSection(markdown, plots)}
</body></html>
`;
  const htmlPath = join(outDir, 'experiment.html');
  writeFileAtomic(htmlPath, html);
  return htmlPath;
}

/**
 * Writes `plots/<metric>.svg` for every series and `experiment.html` (the table
 * and the plots) into the experiment's folder; returns the paths written and the
 * HTML block of the table and plots (for report.html).
 */
export async function writeExperimentPlots(experiment: ExperimentSeries): Promise<{ html: string; svgs: string[]; section: string }> {
  const metrics = [...new Set(Object.values(experiment.series).flatMap((m) => Object.keys(m)))];
  const plotsDir = join(experiment.outDir, 'plots');
  const svgs: string[] = [];
  const plots: Array<{ key: string; svg: string }> = [];
  try {
    mkdirSync(plotsDir, { recursive: true });
    for (const metric of metrics) {
      const svg = await renderSvg(experimentSpec(metric, experiment));
      const path = join(plotsDir, plotFileName(metric));
      writeFileSync(path, svg);
      svgs.push(path);
      plots.push({ key: metric, svg });
    }
  } catch (error) {
    if (error instanceof PyVisionError) throw error;
    throw new PyVisionError('E_IO', `cannot write the experiment's plots to ${experiment.outDir}: ${(error as Error).message}`);
  }
  const html = writeExperimentPage(experiment.outDir, experiment.name, experiment.markdown, plots);
  return { html, svgs, section: experimentSection(experiment.markdown, plots) };
}
