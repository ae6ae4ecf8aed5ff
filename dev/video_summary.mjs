// The table of docs/video.md from OUT_DIR/eval-results.json, with the calibration rows on the same 48 test tasks:
//   node dev/video_summary.mjs OUT_DIR
import { calibrateVideoQA } from '../dist/lib/worlds/video-qa-calibration.js';
import { VideoQAWorld } from '../dist/lib/worlds/video-qa.js';
import { readFileSync, writeFileSync } from 'node:fs';
const out = process.argv[2];
const rows = JSON.parse(readFileSync(`${out}/eval-results.json`, 'utf8'));
const cal = await calibrateVideoQA(new VideoQAWorld({ sandboxLimits: { maxWallMs: 60000 } }), { split: 'test', n: 48, seed: 0, ks: [8, 16, 32] });
const lines = [];
lines.push('| arm | RL steps | seeds | test acc | visual tokens / sample | tool calls / sample | presence | colour | order | count | end reasons |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const pt = (t) => r.perType?.[t] ? r.perType[t].acc.toFixed(2) : 'n/a';
  const er = Object.entries(r.endReasons ?? {}).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
  lines.push(`| ${r.arm} | ${r.steps} | ${r.seed} | ${r.acc.toFixed(3)} | ${r.visualTokens.toFixed(1)} | ${r.toolCalls.toFixed(2)} | ${pt('presence')} | ${pt('colour')} | ${pt('order')} | ${pt('count')} | ${er} |`);
}
lines.push('');
lines.push('| answerer (no policy) | acc | visual tokens / sample | presence | colour | order | count |');
lines.push('|---|---|---|---|---|---|---|');
for (const c of cal) lines.push(`| ${c.name} | ${c.acc.toFixed(3)} | ${c.visualTokens.toFixed(1)} | ${['presence', 'colour', 'order', 'count'].map((t) => (c.perType[t] ?? NaN).toFixed(2)).join(' | ')} |`);
writeFileSync(`${out}/summary.md`, lines.join('\n') + '\n');
console.log(lines.join('\n'));
