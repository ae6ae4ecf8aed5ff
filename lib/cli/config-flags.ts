/**
 * The training settings as command-line flags, generated from the config's
 * own field list (CONFIG_KEYS, DEFAULT_CONFIG, the recipes), so the flags and
 * the config cannot drift apart: every field `fooBar` is `--foo-bar`, its kind
 * taken from its default (numbers, booleans as --foo / --no-foo, strings,
 * lists as comma-separated values, objects as JSON), its help from the field's
 * doc comment. The ablations of agent.md section 5 are flags too
 * (--tool-reward, --no-std-rank, --std-norm, --no-tool-image-filter; --max-turns
 * is the field's own flag).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';

import { CONFIG_KEYS, DEFAULT_CONFIG, type TrainConfig } from '../train/config.js';
import { RECIPES } from '../train/recipes/index.js';
import { UsageError } from './errors.js';

/** Fields whose flag is not the kebab-case of their name. */
const FLAG_NAMES: Partial<Record<keyof TrainConfig, string>> = { outDir: 'out' };

/** Fields with their own hand-written help (the run's flags of agent.md section 7). */
const HELP: Partial<Record<keyof TrainConfig, string>> = {
  recipe: `recipe: ${Object.keys(RECIPES).join(' | ')}`,
  outDir: 'run folder (config.json, metrics.jsonl, TensorBoard events, checkpoints/, samples/, report.html)',
  resume: "continue the run in --out from its latest checkpoint, exactly (the run's settings must match)",
};

/** Shortcuts for the ablations: the flag, what it sets, its help. */
const SHORTCUTS: ReadonlyArray<{ flags: string; attribute: string; set: (value: unknown) => Partial<TrainConfig>; help: string }> = [
  { flags: '--tool-reward <coef>', attribute: 'toolReward', set: (v) => ({ toolRewardCoef: v as number }), help: 'the tool reward coefficient (same as --tool-reward-coef; ablation: --tool-reward 0)' },
  { flags: '--no-std-rank', attribute: 'stdRank', set: () => ({ rank: 'none' }), help: 'ablation: no ranking of the pool by group std (--rank none)' },
  { flags: '--std-norm', attribute: 'stdNorm', set: () => ({ advantageScale: 'group-std' }), help: 'ablation: advantages divided by the group std (--advantage-scale group-std)' },
  { flags: '--no-tool-image-filter', attribute: 'toolImageFilter', set: () => ({ requireToolImage: false }), help: 'ablation: keep trajectories without a tool image (--no-require-tool-image)' },
];

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The flag of a config field, without the leading dashes. */
export function flagName(key: keyof TrainConfig): string {
  return FLAG_NAMES[key] ?? kebab(key);
}

/** commander's attribute name for a flag (camel case of its words). */
function attributeOf(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The doc comment of each TrainConfig field, read from the config module's
 * source or declaration file beside the compiled module (the one place they
 * are written); {} when neither is there.
 */
export function configDocs(): Partial<Record<keyof TrainConfig, string>> {
  const candidates = ['../train/config.d.ts', '../train/config.ts'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const file = candidates.find((p) => existsSync(p));
  if (!file) return {};
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf('interface TrainConfig');
  if (start < 0) return {};
  const body = text.slice(start, text.indexOf('\n}', start));
  const docs: Partial<Record<keyof TrainConfig, string>> = {};
  for (const m of body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*(\w+)\??\s*:/g)) {
    docs[m[2] as keyof TrainConfig] = m[1].replace(/\s*\n\s*\*\s?/g, ' ').trim();
  }
  return docs;
}

/** What 'none' parses to (commander turns a parsed null into ''); settingsFromFlags maps it to null. */
const NONE = Symbol('none');

function parseNumber(flag: string) {
  return (raw: string): number | typeof NONE => {
    if (raw === 'none' || raw === 'null' || raw === 'off') return NONE;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value)) throw new InvalidArgumentError('expected a number (or none)');
    return value;
  };
}

export function parseJsonObject(flag: string) {
  return (raw: string): Record<string, unknown> => {
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new InvalidArgumentError(`--${flag} must be a JSON object, e.g. '{"firstViewShare":0}', got '${raw}'`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError(`--${flag} must be a JSON object, got '${raw}'`);
    return value as Record<string, unknown>;
  };
}

function show(value: unknown): string {
  return value === null ? 'none' : Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** "(default: X)", with the other recipes' values where they differ. */
function defaultNote(key: keyof TrainConfig): string {
  const base = DEFAULT_CONFIG[key];
  const others = Object.entries(RECIPES)
    .filter(([name, r]) => name !== DEFAULT_CONFIG.recipe && key in r && JSON.stringify(r[key as keyof typeof r]) !== JSON.stringify(base))
    .map(([name, r]) => `${name}: ${show(r[key as keyof typeof r])}`);
  return `(default: ${show(base)}${others.length ? `; ${others.join('; ')}` : ''})`;
}

/** The flags of agent.md section 7's usage line, shown first. */
const RUN_FLAGS: ReadonlySet<keyof TrainConfig> = new Set(['recipe', 'outDir', 'seed', 'steps', 'sftSteps', 'resume']);

const GROUP_RUN = 'Run:';
const GROUP_ABLATIONS = 'Ablations (single flags on the default recipe):';
const GROUP_SETTINGS = 'Settings (every field of the training config; a flag overrides --config and the recipe):';

/** The option of one config field. */
function fieldOption(key: keyof TrainConfig, help: string): Option[] {
  const flag = flagName(key);
  const value = DEFAULT_CONFIG[key];
  if (typeof value === 'boolean') return [new Option(`--${flag}`, help), new Option(`--no-${flag}`, `turn --${flag} off`).hideHelp()];
  if (typeof value === 'number') return [new Option(`--${flag} <n>`, help).argParser(parseNumber(flag))];
  if (Array.isArray(value)) {
    return [new Option(`--${flag} <a,b,...>`, help).argParser((raw: string) => raw.split(',').map((s) => s.trim()).filter(Boolean))];
  }
  if (value !== null && typeof value === 'object') return [new Option(`--${flag} <json>`, help).argParser(parseJsonObject(flag))];
  const placeholder = key === 'outDir' ? '<dir>' : '<value>';
  return [new Option(`--${flag} ${placeholder}`, help).argParser((raw: string) => (value === null && (raw === 'none' || raw === 'null') ? NONE : raw))];
}

/** Adds --config, a flag for every config field, and the ablation shortcuts. */
export function addConfigFlags(command: Command): Command {
  const docs = configDocs();
  command.addOption(
    new Option('--config <file.json>', "settings from a JSON file (an object of config fields, or a run folder's config.json); flags override it").helpGroup(GROUP_RUN),
  );
  const keys = [...CONFIG_KEYS.filter((k) => RUN_FLAGS.has(k)), ...CONFIG_KEYS.filter((k) => !RUN_FLAGS.has(k))];
  for (const key of keys) {
    const help = `${HELP[key] ?? docs[key] ?? key} ${defaultNote(key)}`;
    for (const option of fieldOption(key, help)) command.addOption(option.helpGroup(RUN_FLAGS.has(key) ? GROUP_RUN : GROUP_SETTINGS));
  }
  for (const s of SHORTCUTS) {
    const option = new Option(s.flags, s.help).helpGroup(GROUP_ABLATIONS);
    if (s.flags.includes('<')) option.argParser(parseNumber('tool-reward'));
    command.addOption(option);
  }
  return command;
}

/** Reads --config FILE: a settings object, or a run's config.json (whose `config` field holds them). */
export function readConfigFile(path: string): Partial<TrainConfig> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--config ${path}: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--config ${path}: expected a JSON object of settings`);
  const v = value as Record<string, unknown>;
  if (v.package === 'pyvision-rl' && v.config && typeof v.config === 'object') return v.config as Partial<TrainConfig>;
  return v as Partial<TrainConfig>;
}

/**
 * The settings the user gave: --config's, then every flag given on the command
 * line (defaults are left to the recipe and DEFAULT_CONFIG), then the shortcuts.
 */
export function settingsFromFlags(command: Command): Partial<TrainConfig> {
  const options = command.opts();
  const given = (attribute: string): boolean => command.getOptionValueSource(attribute) === 'cli';
  const settings: Record<string, unknown> = options.config ? { ...readConfigFile(options.config as string) } : {};
  for (const key of CONFIG_KEYS) {
    const attribute = attributeOf(flagName(key));
    if (given(attribute)) settings[key] = options[attribute] === NONE ? null : options[attribute];
  }
  for (const s of SHORTCUTS) {
    if (given(s.attribute)) Object.assign(settings, s.set(options[s.attribute] === NONE ? null : options[s.attribute]));
  }
  return settings as Partial<TrainConfig>;
}
