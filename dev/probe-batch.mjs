/**
 * The batch of the answer probes (dev/probe-solid-colour.mjs, dev/probe-shape.mjs): samples of
 * { tokens, patches } packed into one policy batch, the loss mask on each sample's last token.
 */
export function packAnswerBatch(items, patchFloats) {
  const n = items.reduce((a, s) => a + s.tokens.length, 0);
  const tokens = new Int32Array(n), patches = new Float32Array(items.length * patchFloats), seqOffsets = new Int32Array(items.length + 1), mask = new Float32Array(n);
  let at = 0;
  items.forEach((s, b) => {
    tokens.set(s.tokens, at);
    patches.set(s.patches, b * patchFloats);
    mask[at + s.tokens.length - 1] = 1;
    at += s.tokens.length;
    seqOffsets[b + 1] = at;
  });
  return { batch: { tokens, patches, seqOffsets }, mask };
}
