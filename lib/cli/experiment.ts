/**
 * `pyvision-rl experiment NAME`: the experiments of the method (collapse:
 * grpo against pyvision-rl from one SFT checkpoint with equal rollout budgets,
 * on the world and its control variant; ablations: the default recipe and
 * each single-flag ablation), several seeds each. Writes every run's folder,
 * table.md, results.json, plots/*.svg, experiment.html and report.html (all
 * runs overlaid) into --out, and prints the table.
 */
import { join } from 'node:path';
import { Argument, Command, InvalidArgumentError } from 'commander';

import { EXPERIMENTS } from '../train/experiments.js';
import { runVideoExperiment } from '../train/video-experiment.js';
import { mergeConfig } from '../train/config.js';
import { RECIPES } from '../train/recipes/index.js';
import { PyVisionError } from '../util/errors.js';
import { readConfigFile } from './config-flags.js';
import { UsageError, type CliIo } from './errors.js';

export function experimentCommand(io: CliIo): Command {
  const names = [...Object.keys(EXPERIMENTS), 'video'];
  return new Command('experiment')
    .summary(`run an experiment (${names.join(', ')}) over several seeds: table and plots`)
    .description(
      'video: on-demand frame fetching against k uniformly sampled frames in the prompt (k = 8, 16, 32), accuracy against visual tokens per sample. collapse: grpo against pyvision-rl from the same SFT checkpoint with the same rollout budget, on the world and on its control variant (no question answerable from the first view). ablations: pyvision-rl and its single-flag ablations (--tool-reward 0, --no-std-rank, --std-norm, --max-turns 2, --no-tool-image-filter), the same steps each. Writes the runs, table.md, results.json, plots/*.svg, experiment.html and report.html into --out.',
    )
    .addArgument(new Argument('<name>', 'which experiment').choices(names))
    .option('--seeds <n>', 'seeds of the RL runs', (raw: string) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--seeds must be a positive integer, got '${raw}'`);
      return n;
    }, 3)
    .option('--out <dir>', 'experiment folder (default: runs/<name>)')
    .option('--quick', 'CI-sized smoke run: a tiny policy, a few steps')
    .option('--config <file.json>', 'settings under every run of the experiment (sizes, world, world options), as for train --config')
    .option('--quiet', 'no progress lines')
    .action(async (name: keyof typeof EXPERIMENTS | 'video', options: { seeds: number; out?: string; quick?: boolean; quiet?: boolean; config?: string }) => {
      const outDir = options.out ?? join('runs', `${name}${options.quick ? '-quick' : ''}`);
      const log = options.quiet ? undefined : (line: string) => io.stdout(`${line}\n`);
      log?.(`pyvision-rl experiment ${name}: ${options.seeds} seed(s)${options.quick ? ', quick' : ''}, in ${outDir}`);
      const base = options.config ? readConfigFile(options.config) : undefined;
      if (base) {
        // checked now, so that a bad file fails before the first run
        try {
          mergeConfig(base, RECIPES);
        } catch (error) {
          if (error instanceof PyVisionError && error.code === 'E_ARG') throw new UsageError(`--config ${options.config}: ${error.message}`);
          throw error;
        }
      }
      const { experimentSection, writeExperimentPage, writeExperimentPlots, writeReport, writeVideoTradeoff } = await import('../report/index.js');
      if (name === 'video') {
        // on-demand against uniform-k context: its own table (accuracy against visual tokens) and verdict
        const video = await runVideoExperiment({ seeds: options.seeds, outDir, quick: Boolean(options.quick), log, base });
        const plot = await writeVideoTradeoff(video);
        const plots = [{ key: 'video-acc-tokens', svg: plot.svg }];
        const page = writeExperimentPage(outDir, 'video', video.markdown, plots);
        const sections = [{ title: 'Experiment: video (on demand against uniform frames)', html: experimentSection(video.markdown, plots) }];
        const overlay = await writeReport(video.runs.map((r) => r.dir), { out: join(outDir, 'report.html'), maxSampleSets: 2, sections });
        io.stdout(
          `\n${video.markdown}\n\n${video.runs.length} runs in ${(video.seconds / 60).toFixed(1)} min\n` +
            `table: ${join(outDir, 'table.md')}\nplot: ${plot.path} (and with the table: ${page})\nruns overlaid: ${overlay}\n`,
        );
        return;
      }
      const report = await EXPERIMENTS[name]({ seeds: options.seeds, outDir, quick: Boolean(options.quick), log, base });
      const plots = await writeExperimentPlots(report);
      const sections = [{ title: `Experiment: ${name}`, html: plots.section }];
      const overlay = await writeReport(report.runs.map((r) => r.dir), { out: join(outDir, 'report.html'), maxSampleSets: 2, sections });
      io.stdout(
        `\n${report.markdown}\n\n` +
          `${report.runs.length} runs in ${(report.seconds / 60).toFixed(1)} min\n` +
          `table: ${join(outDir, 'table.md')}\nplots: ${plots.html} (and ${plots.svgs.length} SVG files in ${join(outDir, 'plots')})\nruns overlaid: ${overlay}\n`,
      );
    });
}
