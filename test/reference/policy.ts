/**
 * Naive float64 references of the policy network (policy.md) and of each of
 * its layers, written from the spec with plain loops. Deliberately simple and
 * independent of lib/ and native/: the tests compare the native backends with
 * these.
 */

export type F64 = Float64Array;

const f64 = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);

// ---- layers ------------------------------------------------------------------------

export function embeddingForward(
  tokens: ArrayLike<number>,
  patchRows: ArrayLike<number>,
  positions: ArrayLike<number>,
  tokEmb: ArrayLike<number>,
  posEmb: ArrayLike<number>,
  patchOut: ArrayLike<number>,
  C: number,
): F64 {
  const N = tokens.length;
  const out = new Float64Array(N * C);
  for (let t = 0; t < N; t++) {
    for (let c = 0; c < C; c++) {
      const base = tokens[t] >= 0 ? tokEmb[tokens[t] * C + c] : patchOut[patchRows[t] * C + c];
      out[t * C + c] = base + posEmb[positions[t] * C + c];
    }
  }
  return out;
}

export function embeddingBackward(
  dout: ArrayLike<number>,
  tokens: ArrayLike<number>,
  patchRows: ArrayLike<number>,
  positions: ArrayLike<number>,
  V: number,
  T: number,
  Np: number,
  C: number,
): { dTokEmb: F64; dPosEmb: F64; dPatchOut: F64 } {
  const dTokEmb = new Float64Array(V * C);
  const dPosEmb = new Float64Array(T * C);
  const dPatchOut = new Float64Array(Np * C);
  for (let t = 0; t < tokens.length; t++) {
    for (let c = 0; c < C; c++) {
      const g = dout[t * C + c];
      dPosEmb[positions[t] * C + c] += g;
      if (tokens[t] >= 0) dTokEmb[tokens[t] * C + c] += g;
      else dPatchOut[patchRows[t] * C + c] += g;
    }
  }
  return { dTokEmb, dPosEmb, dPatchOut };
}

export function layerNormForward(inp: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, N: number, C: number) {
  const out = new Float64Array(N * C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let t = 0; t < N; t++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[t * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (inp[t * C + c] - m) ** 2;
    v /= C;
    const r = 1 / Math.sqrt(v + 1e-5);
    for (let c = 0; c < C; c++) out[t * C + c] = (inp[t * C + c] - m) * r * weight[c] + bias[c];
    mean[t] = m;
    rstd[t] = r;
  }
  return { out, mean, rstd };
}

/** Gradients of sum(dout * LN(inp)) by the chain rule written out per element. */
export function layerNormBackward(dout: ArrayLike<number>, inp: ArrayLike<number>, weight: ArrayLike<number>, N: number, C: number) {
  const dinp = new Float64Array(N * C);
  const dweight = new Float64Array(C);
  const dbias = new Float64Array(C);
  const { mean, rstd } = layerNormForward(inp, weight, new Float64Array(C), N, C);
  for (let t = 0; t < N; t++) {
    const r = rstd[t];
    const xhat = new Float64Array(C);
    const dxhat = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      xhat[c] = (inp[t * C + c] - mean[t]) * r;
      dxhat[c] = dout[t * C + c] * weight[c];
      dweight[c] += dout[t * C + c] * xhat[c];
      dbias[c] += dout[t * C + c];
    }
    // d xhat_j / d x_i = r (delta_ij - 1/C - xhat_i xhat_j / C)
    for (let i = 0; i < C; i++) {
      let s = 0;
      for (let j = 0; j < C; j++) s += dxhat[j] * r * ((i === j ? 1 : 0) - 1 / C - (xhat[i] * xhat[j]) / C);
      dinp[t * C + i] = s;
    }
  }
  return { dinp, dweight, dbias };
}

/** out[N, O] = inp[N, I] @ weight[O, I]^T + bias[O]. */
export function matmulForward(inp: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number> | null, N: number, I: number, O: number): F64 {
  const out = new Float64Array(N * O);
  for (let t = 0; t < N; t++) {
    for (let o = 0; o < O; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < I; i++) s += inp[t * I + i] * weight[o * I + i];
      out[t * O + o] = s;
    }
  }
  return out;
}

export function matmulBackward(dout: ArrayLike<number>, inp: ArrayLike<number>, weight: ArrayLike<number>, N: number, I: number, O: number) {
  const dinp = new Float64Array(N * I);
  const dweight = new Float64Array(O * I);
  const dbias = new Float64Array(O);
  for (let t = 0; t < N; t++) {
    for (let o = 0; o < O; o++) {
      const g = dout[t * O + o];
      dbias[o] += g;
      for (let i = 0; i < I; i++) {
        dinp[t * I + i] += g * weight[o * I + i];
        dweight[o * I + i] += g * inp[t * I + i];
      }
    }
  }
  return { dinp, dweight, dbias };
}

export interface AttentionLayoutRef {
  queryOffsets: ArrayLike<number>;
  keyStart: ArrayLike<number>;
  firstPosition: ArrayLike<number>;
}

/** Causal softmax attention per head over the layout of policy_ops.h; returns out [N, C] and lse [N, H]. */
export function attentionForward(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  layout: AttentionLayoutRef,
  N: number,
  C: number,
  H: number,
  ldq: number,
  ldkv: number,
) {
  const D = C / H;
  const out = new Float64Array(N * C);
  const lse = new Float64Array(N * H);
  const B = layout.queryOffsets.length - 1;
  for (let b = 0; b < B; b++) {
    for (let r = layout.queryOffsets[b]; r < layout.queryOffsets[b + 1]; r++) {
      const pos = layout.firstPosition[b] + (r - layout.queryOffsets[b]);
      for (let h = 0; h < H; h++) {
        const scores: number[] = [];
        for (let j = 0; j <= pos; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[r * ldq + h * D + d] * k[(layout.keyStart[b] + j) * ldkv + h * D + d];
          scores.push(s / Math.sqrt(D));
        }
        const m = Math.max(...scores);
        const z = scores.reduce((acc, s) => acc + Math.exp(s - m), 0);
        lse[r * H + h] = m + Math.log(z);
        for (let j = 0; j <= pos; j++) {
          const p = Math.exp(scores[j] - m) / z;
          for (let d = 0; d < D; d++) out[r * C + h * D + d] += p * v[(layout.keyStart[b] + j) * ldkv + h * D + d];
        }
      }
    }
  }
  return { out, lse };
}

/** Gradients of sum(dout * attention(q, k, v)) w.r.t. q, k, v (same layouts as the inputs). */
export function attentionBackward(
  dout: ArrayLike<number>,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  layout: AttentionLayoutRef,
  N: number,
  C: number,
  H: number,
  ldq: number,
  ldkv: number,
) {
  const D = C / H;
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const B = layout.queryOffsets.length - 1;
  for (let b = 0; b < B; b++) {
    for (let r = layout.queryOffsets[b]; r < layout.queryOffsets[b + 1]; r++) {
      const pos = layout.firstPosition[b] + (r - layout.queryOffsets[b]);
      for (let h = 0; h < H; h++) {
        const krow = (j: number) => (layout.keyStart[b] + j) * ldkv + h * D;
        const scores: number[] = [];
        for (let j = 0; j <= pos; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[r * ldq + h * D + d] * k[krow(j) + d];
          scores.push(s / Math.sqrt(D));
        }
        const m = Math.max(...scores);
        const z = scores.reduce((acc, s) => acc + Math.exp(s - m), 0);
        const p = scores.map((s) => Math.exp(s - m) / z);
        // dp_j = dout . v_j ; ds_j = p_j (dp_j - sum_i p_i dp_i)
        const dp = p.map((_, j) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += dout[r * C + h * D + d] * v[krow(j) + d];
          return s;
        });
        const dot = p.reduce((acc, pj, j) => acc + pj * dp[j], 0);
        for (let j = 0; j <= pos; j++) {
          const ds = (p[j] * (dp[j] - dot)) / Math.sqrt(D);
          for (let d = 0; d < D; d++) {
            dq[r * ldq + h * D + d] += ds * k[krow(j) + d];
            dk[krow(j) + d] += ds * q[r * ldq + h * D + d];
            dv[krow(j) + d] += p[j] * dout[r * C + h * D + d];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

export function geluGrad(x: number): number {
  const k = Math.sqrt(2 / Math.PI);
  const u = k * (x + 0.044715 * x ** 3);
  const t = Math.tanh(u);
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}

/** log softmax of each row at its target, and the row's entropy (0 for rows without a target). */
export function logSoftmax(logits: ArrayLike<number>, targets: ArrayLike<number>, V: number) {
  const N = targets.length;
  const logp = new Float64Array(N);
  const entropy = new Float64Array(N);
  const probs = new Float64Array(N * V);
  for (let i = 0; i < N; i++) {
    if (targets[i] < 0) continue;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[i * V + v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += Math.exp(logits[i * V + v] - m);
    const lse = m + Math.log(z);
    let h = 0;
    for (let v = 0; v < V; v++) {
      const lp = logits[i * V + v] - lse;
      probs[i * V + v] = Math.exp(lp);
      h -= Math.exp(lp) * lp;
    }
    logp[i] = logits[i * V + targets[i]] - lse;
    entropy[i] = h;
  }
  return { logp, entropy, probs };
}

// ---- the clipped policy-gradient loss, per token (semantics.md section 4) -------------

export interface ClipOptions {
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
}

export function clippedTokenLoss(logp: number, oldLogp: number, adv: number, o: ClipOptions): number {
  const ratio = Math.exp(Math.min(20, Math.max(-20, logp - oldLogp)));
  const pg1 = -adv * ratio;
  const pg2 = -adv * Math.min(1 + o.clipHigh, Math.max(1 - o.clipLow, ratio));
  const clip1 = Math.max(pg1, pg2);
  if (o.dualClip === null || adv >= 0) return clip1;
  return Math.min(-adv * o.dualClip, clip1);
}

/** d loss / d logp of one token by a central difference of clippedTokenLoss (smooth away from the kinks). */
export function clippedTokenGrad(logp: number, oldLogp: number, adv: number, o: ClipOptions): number {
  const h = 1e-6;
  return (clippedTokenLoss(logp + h, oldLogp, adv, o) - clippedTokenLoss(logp - h, oldLogp, adv, o)) / (2 * h);
}

// ---- AdamW (torch.optim.AdamW) -----------------------------------------------------------

export function adamwStep(
  params: ArrayLike<number>,
  m: ArrayLike<number>,
  v: ArrayLike<number>,
  grads: ArrayLike<number>,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; gradScale: number; step: number },
) {
  const p2 = f64(params);
  const m2 = f64(m);
  const v2 = f64(v);
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < p2.length; i++) {
    const g = grads[i] * o.gradScale;
    m2[i] = o.beta1 * m2[i] + (1 - o.beta1) * g;
    v2[i] = o.beta2 * v2[i] + (1 - o.beta2) * g * g;
    p2[i] *= 1 - o.lr * o.weightDecay;
    p2[i] -= ((o.lr / bc1) * m2[i]) / (Math.sqrt(v2[i]) / Math.sqrt(bc2) + o.eps);
  }
  return { params: p2, m: m2, v: v2 };
}

// ---- the whole network -----------------------------------------------------------------

export interface RefConfig {
  vocabSize: number;
  patchDim: number;
  maxSeqLen: number;
  layers: number;
  heads: number;
  dim: number;
}

export interface RefBatch {
  tokens: ArrayLike<number>;
  patches: ArrayLike<number>;
  seqOffsets: ArrayLike<number>;
}

/** Per-position logp and entropy (semantics.md section 6) of the network with `params` (by checkpoint name). */
export function networkLogprobs(cfg: RefConfig, params: Map<string, ArrayLike<number>>, batch: RefBatch) {
  const { dim: C, heads: H, vocabSize: V, patchDim: P } = cfg;
  const W = (name: string) => {
    const t = params.get(name);
    if (!t) throw new Error(`reference: missing tensor ${name}`);
    return t;
  };
  const N = batch.tokens.length;
  const logp = new Float64Array(N);
  const entropy = new Float64Array(N);
  let patch = 0;
  for (let s = 0; s + 1 < batch.seqOffsets.length; s++) {
    const begin = batch.seqOffsets[s];
    const n = batch.seqOffsets[s + 1] - begin;
    // Embedding of one sequence at a time: sequences never see each other.
    let h = new Float64Array(n * C);
    for (let t = 0; t < n; t++) {
      const tok = batch.tokens[begin + t];
      let row: ArrayLike<number>;
      if (tok >= 0) {
        row = Array.from({ length: C }, (_, c) => W('tok_emb.weight')[tok * C + c]);
      } else {
        const x = Array.from({ length: P }, (_, i) => batch.patches[patch * P + i]);
        patch++;
        row = matmulForward(x, W('patch_proj.weight'), W('patch_proj.bias'), 1, P, C);
      }
      for (let c = 0; c < C; c++) h[t * C + c] = row[c] + W('pos_emb.weight')[t * C + c];
    }
    const layout = { queryOffsets: [0, n], keyStart: [0], firstPosition: [0] };
    for (let l = 0; l < cfg.layers; l++) {
      const b = `blocks.${l}.`;
      const a = layerNormForward(h, W(b + 'ln1.weight'), W(b + 'ln1.bias'), n, C).out;
      const qkv = matmulForward(a, W(b + 'attn.qkv.weight'), W(b + 'attn.qkv.bias'), n, C, 3 * C);
      const q = new Float64Array(n * C);
      const k = new Float64Array(n * C);
      const v = new Float64Array(n * C);
      for (let t = 0; t < n; t++) {
        for (let c = 0; c < C; c++) {
          q[t * C + c] = qkv[t * 3 * C + c];
          k[t * C + c] = qkv[t * 3 * C + C + c];
          v[t * C + c] = qkv[t * 3 * C + 2 * C + c];
        }
      }
      const y = attentionForward(q, k, v, layout, n, C, H, C, C).out;
      const proj = matmulForward(y, W(b + 'attn.proj.weight'), W(b + 'attn.proj.bias'), n, C, C);
      h = h.map((x, i) => x + proj[i]);
      const m = layerNormForward(h, W(b + 'ln2.weight'), W(b + 'ln2.bias'), n, C).out;
      const fc = matmulForward(m, W(b + 'mlp.fc.weight'), W(b + 'mlp.fc.bias'), n, C, 4 * C).map(gelu);
      const out = matmulForward(fc, W(b + 'mlp.proj.weight'), W(b + 'mlp.proj.bias'), n, 4 * C, C);
      h = h.map((x, i) => x + out[i]);
    }
    const hf = layerNormForward(h, W('ln_f.weight'), W('ln_f.bias'), n, C).out;
    const logits = matmulForward(hf, W('lm_head.weight'), null, n, C, V);
    const targets = Array.from({ length: n }, (_, t) => (t + 1 < n ? batch.tokens[begin + t + 1] : -1));
    const ls = logSoftmax(logits, targets, V);
    for (let t = 0; t + 1 < n; t++) {
      if (targets[t] < 0) continue;
      logp[begin + t + 1] = ls.logp[t];
      entropy[begin + t + 1] = ls.entropy[t];
    }
  }
  return { logp, entropy };
}

/** SFT loss: mean over masked positions of -logp. */
export function sftLoss(logp: ArrayLike<number>, mask: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let t = 0; t < logp.length; t++) {
    if (mask[t]) {
      s -= logp[t];
      n++;
    }
  }
  return n > 0 ? s / n : 0;
}

/** Token-mean clipped PG loss with per-position advantages. */
export function pgLoss(
  logp: ArrayLike<number>,
  oldLogp: ArrayLike<number>,
  advantages: ArrayLike<number>,
  mask: ArrayLike<number>,
  o: ClipOptions,
): number {
  let s = 0;
  let n = 0;
  for (let t = 0; t < logp.length; t++) {
    if (mask[t]) {
      s += clippedTokenLoss(logp[t], oldLogp[t], advantages[t], o);
      n++;
    }
  }
  return n > 0 ? s / n : 0;
}
