/**
 * The protocol's token ids in one world's vocabulary, how a sampled turn is
 * read (agent.md section 1), and the per-trajectory seed.
 */
import { PyVisionError } from '../util/errors.js';
import { SPECIAL_TOKENS, type Tokenizer } from '../worlds/world.js';

/** Ids of the tokens the rollout engine reads and writes. */
export interface ProtocolIds {
  code: number;
  codeEnd: number;
  answer: number;
  answerEnd: number;
  img: number;
  /** Every special token but `<unk>`: none may appear inside a turn's body. */
  reserved: Set<number>;
}

export function protocolIds(tokenizer: Tokenizer, name: string): ProtocolIds {
  const id = (token: string) => {
    try {
      return tokenizer.id(token);
    } catch {
      throw new PyVisionError('E_ARG', `${name} must have the protocol token '${token}' (SPECIAL_TOKENS of lib/worlds/world.ts)`);
    }
  };
  const reserved = new Set<number>();
  for (const t of SPECIAL_TOKENS) if (t !== '<unk>') reserved.add(id(t));
  return { code: id('<code>'), codeEnd: id('</code>'), answer: id('<answer>'), answerEnd: id('</answer>'), img: id('<img>'), reserved };
}

/** How a sampled turn reads. */
export type ParsedTurn =
  | { kind: 'code'; code: string }
  | { kind: 'answer'; answer: string }
  /** Unclosed, not opened by `<code>` / `<answer>`, closed by the other one, a reserved token inside, or no code. */
  | { kind: 'invalid'; text: string; why: string };

/**
 * A turn is `<code> body </code>` or `<answer> body </answer>`, the body free of
 * reserved tokens; a code body that decodes to white space only is not executable.
 */
export function parseTurn(turn: ArrayLike<number>, ids: ProtocolIds, tokenizer: Tokenizer): ParsedTurn {
  const n = turn.length;
  const first = n > 0 ? turn[0] : -1;
  const last = n > 0 ? turn[n - 1] : -1;
  const text = () => tokenizer.decode(turn);
  if (last !== ids.codeEnd && last !== ids.answerEnd) return { kind: 'invalid', text: text(), why: 'unclosed' };
  const opener = last === ids.codeEnd ? ids.code : ids.answer;
  if (n < 2 || first !== opener) return { kind: 'invalid', text: text(), why: 'not opened by its own opening token' };
  const body = Array.prototype.slice.call(turn, 1, n - 1) as number[];
  for (const t of body) if (ids.reserved.has(t)) return { kind: 'invalid', text: text(), why: `reserved token '${tokenizer.token(t)}' inside the turn` };
  const decoded = tokenizer.decode(body).trim();
  if (opener === ids.answer) return { kind: 'answer', answer: decoded };
  if (decoded.length === 0) return { kind: 'invalid', text: text(), why: 'no code' };
  return { kind: 'code', code: decoded };
}

const MASK64 = (1n << 64n) - 1n;

function mix64(x: bigint): bigint {
  x = (x + 0x9e3779b97f4a7c15n) & MASK64;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return x ^ (x >> 31n);
}

/**
 * The sampling seed of one trajectory: a SplitMix64 hash of (seed, task id,
 * sample index), 53 bits (a safe integer). It does not depend on the batch.
 */
export function trajectorySeed(seed: number, taskId: string, sample: number): number {
  return groupSeeds(seed, taskId)(sample);
}

/**
 * trajectorySeed(seed, taskId, sample) for every sample of one task, the
 * task's part hashed once: the same numbers as calling it per sample.
 */
export function groupSeeds(seed: number, taskId: string): (sample: number) => number {
  let h = 0xcbf29ce484222325n; // FNV-1a over the id's UTF-16 units
  for (let i = 0; i < taskId.length; i++) h = ((h ^ BigInt(taskId.charCodeAt(i))) * 0x100000001b3n) & MASK64;
  const task = mix64(mix64(BigInt(seed)) ^ h);
  return (sample) => Number(mix64(task ^ BigInt(sample)) >> 11n);
}
