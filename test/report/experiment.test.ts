/** An experiment's plots: one SVG per series (a mean line and a min-max band per arm) and experiment.html with the table. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { experimentSpec, plotFileName, writeExperimentPlots, type ExperimentSeries } from '../../lib/report/experiment.js';

function series(arm: number): Array<{ step: number; mean: number; min: number; max: number }> {
  return [0, 1, 2, 3].map((step) => ({ step, mean: 2 - arm * step * 0.4, min: 1.8 - arm * step * 0.4, max: 2.2 - arm * step * 0.4 }));
}

test('plots/<metric>.svg per series and experiment.html with the table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-experiment-'));
  try {
    const experiment: ExperimentSeries = {
      name: 'collapse',
      outDir: dir,
      series: {
        'pyvision-rl / main': { 'agent/tool_call_mean': series(0), 'val/acc': series(0) },
        'grpo / main': { 'agent/tool_call_mean': series(1), 'val/acc': [{ step: 0, mean: NaN, min: NaN, max: NaN }] },
      },
      markdown: '| arm | seeds | test acc |\n|---|---|---|\n| grpo / main | 3 | 0.410 (0.380-0.450) |\n| pyvision-rl / main | 3 | 0.520 |',
    };
    const spec = experimentSpec('val/acc', experiment) as { data: { values: unknown[] } };
    expect(spec.data.values).toHaveLength(4); // the NaN point is left out
    const { html, svgs } = await writeExperimentPlots(experiment);
    expect(readdirSync(join(dir, 'plots')).sort()).toEqual(['agent_tool_call_mean.svg', 'val_acc.svg']);
    expect(svgs).toHaveLength(2);
    expect(plotFileName('agent/tool_call_mean')).toBe('agent_tool_call_mean.svg');
    const svg = readFileSync(join(dir, 'plots', 'agent_tool_call_mean.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('grpo / main');
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<td>0.410 (0.380-0.450)</td>');
    expect(page).toContain('data-metric="val/acc"');
    expect(page).not.toMatch(/(src|href)\s*=\s*["']?https?:/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
