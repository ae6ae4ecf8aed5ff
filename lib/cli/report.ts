/** `pyvision-rl report DIR [DIR ...]`: report.html of one run folder, or of several overlaid. */
import { Command, InvalidArgumentError } from 'commander';

import type { CliIo } from './errors.js';

export function reportCommand(io: CliIo): Command {
  return new Command('report')
    .summary('write report.html of run folders (several runs overlaid)')
    .description(
      'Writes report.html: plots of the metrics over steps (several runs overlaid), the settings, and a trajectory viewer over samples/ (the question, each crop drawn on the image, the code, the observations, the answer). Self-contained: it opens offline.',
    )
    .argument('<dir...>', 'run folders (with metrics.jsonl, config.json, samples/)')
    .option('--out <file>', 'where to write (default: report.html in the first run folder)')
    .option('--samples <n>', 'evaluations per run shown in the viewer', (raw: string) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--samples must be a positive integer, got '${raw}'`);
      return n;
    })
    .action(async (dirs: string[], options: { out?: string; samples?: number }) => {
      const { writeReport } = await import('../report/report.js');
      const path = await writeReport(dirs, { out: options.out, maxSampleSets: options.samples });
      io.stdout(`${path}\n`);
    });
}
