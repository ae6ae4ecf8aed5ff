/**
 * Plots of the metrics over steps, as SVG strings: each plot is a vega-lite
 * spec (lines over `step`, one colour per series) compiled with vega-lite and
 * rendered headless by vega's View.toSVG in Node (no canvas, no browser).
 * Several runs overlay in one plot; a plot may hold several keys (the end
 * reasons, accuracy per question type), then each run-and-key is a series.
 */
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';

import type { MetricsRow } from '../metrics/jsonl.js';

/** One run's metrics, named for the legend. */
export interface RunMetrics {
  name: string;
  rows: readonly MetricsRow[];
}

/** A plot: its title and the metric keys drawn in it. */
export interface PlotSpec {
  title: string;
  keys: string[];
}

/** A section of plots ('Reward and accuracy', 'Tool use', ...). */
export interface PlotSection {
  title: string;
  plots: PlotSpec[];
}

/** The sections and their keys, in order; keys a run does not have are left out, other keys go to 'Other'. */
const LAYOUT: ReadonlyArray<{ title: string; plots: ReadonlyArray<{ title: string; keys?: string[]; prefix?: string }> }> = [
  {
    title: 'Reward and accuracy',
    plots: [
      { title: 'reward (critic/score/mean)', keys: ['critic/score/mean'] },
      { title: 'train accuracy (critic/acc/mean)', keys: ['critic/acc/mean'] },
      { title: 'train accuracy with / without a tool call', keys: ['critic/acc/with_tool', 'critic/acc/without_tool'] },
      { title: 'train accuracy per question type', prefix: 'critic/acc/' },
      { title: 'validation accuracy, with tools and disabled', keys: ['val/acc', 'val/acc_no_tools'] },
      { title: 'validation accuracy with / without a tool call', keys: ['val/acc/with_tool', 'val/acc/without_tool'] },
      { title: 'validation accuracy per question type', prefix: 'val/acc/' },
      { title: 'correct with negative advantage', keys: ['data/pos_sample_neg_adv_ratio'] },
      { title: 'in-group reward std', keys: ['critic/group_std/mean'] },
    ],
  },
  {
    title: 'Tool use',
    plots: [
      { title: 'tool calls per trajectory', keys: ['agent/tool_call_mean', 'agent/tool_call_max', 'agent/tool_call_min'] },
      { title: 'share of trajectories with / without a tool call', keys: ['agent/tool_call_ratio', 'agent/tool_call_zero_ratio'] },
      { title: 'validation tool use', keys: ['val/tool_call_mean', 'val/tool_call_ratio'] },
      { title: 'turns', keys: ['agent/turns_mean', 'val/turns_mean'] },
      { title: 'tool images', keys: ['agent/tool_image_mean'] },
      { title: 'crops that missed the target', keys: ['agent/crop_miss_ratio'] },
      { title: 'visual tokens', keys: ['agent/visual_tokens_mean', 'val/visual_tokens_mean'] },
      { title: 'response length', keys: ['response_length/mean'] },
      { title: 'truncated (over length)', keys: ['agent/truncation_ratio'] },
    ],
  },
  {
    title: 'Policy update',
    plots: [
      { title: 'entropy', keys: ['actor/entropy'] },
      { title: 'policy-gradient loss', keys: ['actor/pg_loss'] },
      { title: 'clip fraction', keys: ['actor/pg_clipfrac'] },
      { title: 'approximate KL', keys: ['actor/ppo_kl'] },
      { title: 'gradient norm', keys: ['actor/grad_norm'] },
      { title: 'learning rate', keys: ['actor/lr'] },
    ],
  },
  {
    title: 'Filters and end reasons',
    plots: [
      { title: 'filtered shares', keys: ['filter/zero_variance', 'filter/end_reason', 'filter/no_tool_image'] },
      { title: 'kept trajectories', keys: ['filter/kept'] },
      { title: 'generation rounds', keys: ['filter/gen_rounds'] },
      { title: 'other filters', prefix: 'filter/' },
      { title: 'end reasons', prefix: 'end_reason/' },
      { title: 'trajectories sampled', prefix: 'rollout/' },
    ],
  },
  {
    title: 'Speed',
    plots: [
      { title: 'seconds per phase', prefix: 'timing/' },
      { title: 'tokens per second', keys: ['perf/tokens_per_second'] },
      { title: 'sampled tokens', keys: ['perf/sampled_tokens'] },
    ],
  },
];

/** The plot sections for the keys the runs have (every key appears in exactly one plot). */
export function plotLayout(runs: readonly RunMetrics[]): PlotSection[] {
  const present = new Set<string>();
  for (const run of runs) for (const row of run.rows) for (const [k, v] of Object.entries(row)) if (k !== 'step' && v !== null) present.add(k);
  const used = new Set<string>();
  const sections: PlotSection[] = [];
  for (const section of LAYOUT) {
    const plots: PlotSpec[] = [];
    for (const plot of section.plots) {
      const keys = plot.keys
        ? plot.keys.filter((k) => present.has(k) && !used.has(k))
        : [...present].filter((k) => k.startsWith(plot.prefix!) && !used.has(k)).sort();
      if (keys.length === 0) continue;
      keys.forEach((k) => used.add(k));
      plots.push({ title: plot.title, keys });
    }
    if (plots.length) sections.push({ title: section.title, plots });
  }
  const rest = [...present].filter((k) => !used.has(k)).sort();
  if (rest.length) sections.push({ title: 'Other', plots: rest.map((k) => ({ title: k, keys: [k] })) });
  return sections;
}

/** The vega-lite spec of one plot over the runs. */
export function plotSpec(plot: PlotSpec, runs: readonly RunMetrics[]): vegaLite.TopLevelSpec {
  const values: Array<{ step: number; value: number; series: string }> = [];
  for (const run of runs) {
    for (const key of plot.keys) {
      const series = [runs.length > 1 ? run.name : '', plot.keys.length > 1 ? key : ''].filter(Boolean).join(' · ') || key;
      for (const row of run.rows) {
        const v = row[key];
        if (typeof v === 'number' && Number.isFinite(v)) values.push({ step: row.step, value: v, series });
      }
    }
  }
  const many = runs.length > 1 || plot.keys.length > 1;
  return {
    width: 300,
    height: 150,
    title: { text: plot.title, fontSize: 12, anchor: 'start' },
    data: { values },
    mark: { type: 'line', point: values.length <= 60 ? { size: 18 } : false, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false }, axis: { format: '.4~g' } },
      color: many
        ? { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2, labelLimit: 260 } }
        : { value: '#1f77b4' },
    },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** Renders a vega-lite spec to an SVG string, headless. */
export async function renderSvg(spec: vegaLite.TopLevelSpec): Promise<string> {
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Every plot of the runs rendered: sections of { title, keys, svg }. */
export async function renderPlots(runs: readonly RunMetrics[]): Promise<Array<{ title: string; plots: Array<PlotSpec & { svg: string }> }>> {
  const out: Array<{ title: string; plots: Array<PlotSpec & { svg: string }> }> = [];
  for (const section of plotLayout(runs)) {
    const plots: Array<PlotSpec & { svg: string }> = [];
    for (const plot of section.plots) plots.push({ ...plot, svg: await renderSvg(plotSpec(plot, runs)) });
    out.push({ title: section.title, plots });
  }
  return out;
}
