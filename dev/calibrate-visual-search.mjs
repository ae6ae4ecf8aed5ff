// Calibration table of the visual-search world (docs/agent.md, "Calibration").
//   npx tsc -p tsconfig.build.json && node dev/calibrate-visual-search.mjs [n] ['{"firstViewShare": 0}']
// n tasks of the test split (default 400); the optional JSON is VisualSearchOptions.
import { VisualSearchWorld, calibrateVisualSearch, calibrationTable } from '../dist/lib/index.js';

const n = Number(process.argv[2] ?? 400);
const options = process.argv[3] ? JSON.parse(process.argv[3]) : {};
const world = new VisualSearchWorld(options);
const calibration = await calibrateVisualSearch(world, { n });
console.log(`visual-search calibration: n=${n} split=${calibration.options.split} seed=${calibration.options.seed} expert seed=${calibration.options.expertSeed} options=${JSON.stringify(options)}`);
console.log(calibrationTable(calibration));
