/** Worlds: the tokenizer, the image tool, the visual-search world and user dataset worlds. */
export { WordTokenizer, CODE_TOKENS, NEWLINE, NUMBER_PIECES, type WordTokenizerOptions } from './tokenizer.js';
export { ImageObject, wrapImage, meanColorBuiltin, bindArgs, DEFAULT_IMAGE_BUILTIN_LIMITS, type ImageBuiltinLimits, type ImageOrigin } from './image-builtins.js';
export { ImageToolSession, type ImageSessionOptions, type ImageToolDetails, type ImageToolResult } from './image-session.js';
export {
  VisualSearchWorld, resolveVisualSearchOptions, questionText, normalizeAnswer, observeImages, policyShape, imageRecord, boxCoverage, containsCentre,
  type VisualSearchTask, type VisualSearchOptions, type VisualSearchCreateOptions, type VisualSearchSettings,
} from './visual-search/world.js';
export { DEFAULT_EXPERT_OPTIONS, expertTurns, type ExpertOptions } from './visual-search/expert.js';
export { COLORS, COLOR_NAMES, SHAPES, renderScene, type Scene, type SceneObject, type ColorName, type ShapeName, type Background } from './visual-search/scene.js';
export { QUESTION_TYPES, DIRECTIONS, TARGET_CUES, type QuestionType, type Difficulty, type TargetCue } from './visual-search/tasks.js';
export { SPECIAL_TOKENS, type World, type Task, type Segment, type ToolSession, type ToolResult, type Tokenizer, type ExpertTurn, type ObservationLimits, type WorldPolicyShape, type TurnRecord, type Split } from './world.js';
export { firstViewAnswer, viewRegions, type ViewRegion, type FirstViewOptions } from './visual-search/first-view.js';
export { calibrateVisualSearch, calibrationTable, type Calibration, type CalibrationRow, type CalibrationOptions } from './visual-search/calibrate.js';
export { DatasetWorld, type DatasetTask, type DatasetWorldOptions } from './dataset.js';
