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

// 64-bit arithmetic on (hi, lo) pairs of uint32 (BigInt allocates on every operation, which
// made the seeds a visible part of a rollout's orchestration: docs/agent.md). The reference in
// test/rollout/seeds.test.ts is the same hash written with BigInt.
const TWO32 = 4294967296;

/** Low 64 bits of (ah, al) * (bh, bl), into OUT. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  // al * bl in full from 16-bit halves (every partial sum is an exact double below 2^53).
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid % 65536) * 65536;
  const carry = Math.floor(low / TWO32);
  OUT_LO = low >>> 0;
  OUT_HI = (a1 * b1 + Math.floor(mid / 65536) + carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

let OUT_HI = 0;
let OUT_LO = 0;

/** SplitMix64's finaliser of (hi, lo) (the state step included), into OUT. */
function mix64(hi: number, lo: number): void {
  // x += 0x9e3779b97f4a7c15
  const sum = lo + 0x7f4a7c15;
  lo = sum >>> 0;
  hi = (hi + 0x9e3779b9 + (sum >= TWO32 ? 1 : 0)) >>> 0;
  // x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
  lo = (lo ^ ((lo >>> 30) | (hi << 2))) >>> 0;
  hi = (hi ^ (hi >>> 30)) >>> 0;
  mul64(hi, lo, 0xbf58476d, 0x1ce4e5b9);
  hi = OUT_HI;
  lo = OUT_LO;
  // x = (x ^ (x >> 27)) * 0x94d049bb133111eb
  lo = (lo ^ ((lo >>> 27) | (hi << 5))) >>> 0;
  hi = (hi ^ (hi >>> 27)) >>> 0;
  mul64(hi, lo, 0x94d049bb, 0x133111eb);
  hi = OUT_HI;
  lo = OUT_LO;
  // x ^ (x >> 31)
  OUT_LO = (lo ^ ((lo >>> 31) | (hi << 1))) >>> 0;
  OUT_HI = (hi ^ (hi >>> 31)) >>> 0;
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
 * `seed` and `sample` are safe integers >= 0.
 */
export function groupSeeds(seed: number, taskId: string): (sample: number) => number {
  // FNV-1a over the id's UTF-16 units, times 0x100000001b3.
  let hh = 0xcbf29ce4;
  let hl = 0x84222325;
  for (let i = 0; i < taskId.length; i++) {
    mul64(hh, (hl ^ taskId.charCodeAt(i)) >>> 0, 0x100, 0x1b3);
    hh = OUT_HI;
    hl = OUT_LO;
  }
  mix64(Math.floor(seed / TWO32), seed >>> 0);
  mix64((OUT_HI ^ hh) >>> 0, (OUT_LO ^ hl) >>> 0);
  const th = OUT_HI;
  const tl = OUT_LO;
  return (sample) => {
    mix64((th ^ Math.floor(sample / TWO32)) >>> 0, (tl ^ sample) >>> 0);
    return OUT_HI * 2097152 + (OUT_LO >>> 11); // the top 53 bits
  };
}
