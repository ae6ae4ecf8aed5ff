/**
 * `pyvision-rl doctor [--json]`: what this installation was built with,
 * which devices it sees, and which backend kernels will run on (and why).
 */
import { Command } from 'commander';

import { backendInfo } from '../native/backend.js';
import type { CliIo } from './errors.js';

export function doctorCommand(io: CliIo): Command {
  return new Command('doctor')
    .summary('show the compiled backends, devices and the chosen backend')
    .description('What this installation was built with, which devices it sees, and which backend kernels run on (and why).')
    .option('--json', 'print the report as JSON (for scripts)')
    .action((options: { json?: boolean }) => io.stdout(`${doctor(Boolean(options.json))}\n`));
}

function doctor(json: boolean): string {
  const info = backendInfo();
  if (json) {
    return JSON.stringify(info, null, 2);
  }
  const lines = [
    `pyvision-rl doctor`,
    `  compiled backends : cpu${info.compiled.cuda ? ', cuda' : ''}`,
    `  cpu threads       : ${info.cpuThreads}${info.openmp ? ' (OpenMP)' : ' (no OpenMP: single-threaded)'}`,
    `  cuda runtime      : ${info.cudaRuntimeVersion ? formatCudaVersion(info.cudaRuntimeVersion) : 'not compiled in'}`,
    `  cuda driver       : ${info.cudaDriverVersion ? formatCudaVersion(info.cudaDriverVersion) : 'none found'}`,
    `  devices           : ${info.devices.length === 0 ? 'none' : ''}`,
    ...info.devices.map(
      (d, i) =>
        `    [${i}] ${d.name}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, compute capability ${d.computeCapability}, ` +
        `${d.multiprocessors} SMs, ~${d.memoryBandwidthGBs.toFixed(0)} GB/s`,
    ),
    `  requested backend : ${info.requested}`,
    `  chosen backend    : ${info.chosen}`,
    `  reason            : ${info.reason}`,
  ];
  return lines.join('\n');
}

function formatCudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}
