// The Train panel's settings: defaults from engine/train/defaults.ts (the one source of truth the CLI and the
// Trainer read too), the built-in demo datasets, the checks that name the setting at fault, and the stages of the
// study's recipe (CPT → SFT → ORPO).
import { TRAIN_DEFAULTS, isLabelSmoothing } from '../../engine/train/defaults.ts';
import { warmupStepsFromRatio } from '../../engine/train/schedule.ts';
import { LORA_TARGETS } from '../../engine/lora/adapter.ts';
import { METHODS as OBJECTIVE_NAMES, methodsFor, objectiveOf, takesParam, type Method } from '../../engine/train/objectives.ts';
import type { TrainSettings } from '../../worker/train-api.ts';

/** The Train panel's method choices: every registered objective (engine/train/objectives/registry.ts). */
export const METHODS: { id: Method; label: string; about: string }[] = OBJECTIVE_NAMES.map((id) => ({ id, label: objectiveOf(id).label, about: objectiveOf(id).about }));

/** Dataset shapes (shapes.ts ids) whose rows are chats, so that assistant-only loss has turns to find. */
export const CHAT_SHAPES: readonly string[] = ['messages', 'sharegpt', 'conversational-prompt-completion'];

/** The demo files shipped with the studio (public/demo/data), served from the site. */
export interface BuiltinDataset {
  file: string;
  label: string;
  methods: Method[];
}
export const BUILTIN_DATASETS: BuiltinDataset[] = [
  { file: 'corpus.txt', label: 'corpus.txt: 24 paragraphs on biological materials', methods: methodsFor('text') },
  { file: 'sft.jsonl', label: 'sft.jsonl: 41 {prompt, completion} pairs', methods: methodsFor('prompt-completion') },
  { file: 'sft-chat.jsonl', label: 'sft-chat.jsonl: the same 41 pairs as {messages} (needs a chat template)', methods: methodsFor('text') },
  { file: 'preference.jsonl', label: 'preference.jsonl: 30 {prompt, chosen, rejected} pairs', methods: methodsFor('preference') },
];
export const BUILTIN_VALIDATION = 'validation.txt';
export const DEMO_DATA_PATH = 'demo/data/';

/** The built-in file a method starts with. */
export function defaultDataset(method: Method): string {
  const rows = objectiveOf(method).rows;
  return rows === 'text' ? 'corpus.txt' : rows === 'prompt-completion' ? 'sft.jsonl' : 'preference.jsonl';
}

/** The next stage of the study's recipe after `method` (CPT → SFT → ORPO), null after preference optimisation. */
export function nextStage(method: Method): Method | null {
  return method === 'cpt' ? 'sft' : method === 'sft' ? 'orpo' : null;
}

export const DEFAULT_STEPS = 50;

/** Default settings of a method for a model that reads `contextLength` tokens. */
export function defaultSettings(method: Method, contextLength: number, steps = DEFAULT_STEPS): TrainSettings {
  const d = TRAIN_DEFAULTS;
  const every = Math.max(1, Math.floor(steps / 10));
  return {
    method,
    rank: d.rank,
    alpha: d.alpha,
    dropout: 0,
    targets: [...d.targets],
    lr: d.lr,
    schedule: d.schedule,
    warmupSteps: warmupStepsFromRatio(d.warmupRatio, steps),
    steps,
    microBatch: d.microBatch,
    accum: d.accum,
    maxGradNorm: d.maxGradNorm,
    weightDecay: d.weightDecay,
    // long enough for the demo rows, short enough for a browser GPU; never past the model's context
    seqLen: Math.min(contextLength, 256),
    recompute: false,
    seed: d.seed,
    beta: d.beta,
    labelSmoothing: d.labelSmoothing,
    assistantOnlyLoss: d.assistantOnlyLoss,
    evalEvery: every,
    valSplit: 0.1,
    checkpointEvery: every,
    keepCheckpoints: d.keepCheckpoints,
  };
}

export type SettingErrors = Partial<Record<keyof TrainSettings, string>>;

/** What is wrong with each setting, in words that name it; empty when the settings can run. */
export function checkSettings(s: TrainSettings, contextLength: number, hasValFile: boolean): SettingErrors {
  const e: SettingErrors = {};
  const int = (k: keyof TrainSettings, min: number, what: string) => {
    const v = s[k] as number;
    if (!Number.isInteger(v) || v < min) e[k] = `${what} must be a whole number ≥ ${min}`;
  };
  const num = (k: keyof TrainSettings, ok: (v: number) => boolean, msg: string) => {
    const v = s[k] as number;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) e[k] = msg;
  };
  int('rank', 1, 'Rank');
  num('alpha', (v) => v > 0, 'Alpha must be a number > 0');
  num('dropout', (v) => v >= 0 && v < 1, 'Dropout must be in [0, 1)');
  if (s.targets.length === 0) e.targets = 'Choose at least one projection to adapt';
  else if (s.targets.some((t) => !(LORA_TARGETS as readonly string[]).includes(t))) e.targets = `Targets must be among ${LORA_TARGETS.join(', ')}`;
  num('lr', (v) => v > 0, 'The learning rate must be a number > 0');
  int('steps', 1, 'Steps');
  int('warmupSteps', 0, 'Warm-up steps');
  if (!e.warmupSteps && !e.steps && s.warmupSteps > s.steps) e.warmupSteps = `Warm-up (${s.warmupSteps}) is longer than the run (${s.steps} steps)`;
  int('microBatch', 1, 'Micro-batch');
  int('accum', 1, 'Accumulation');
  num('maxGradNorm', (v) => v >= 0, 'Clipping must be ≥ 0 (0 = off)');
  num('weightDecay', (v) => v >= 0, 'Weight decay must be ≥ 0');
  int('seqLen', 2, 'Sequence length');
  if (!e.seqLen && s.seqLen > contextLength) e.seqLen = `Sequence length ${s.seqLen} is longer than the model's context (${contextLength})`;
  int('seed', 0, 'Seed');
  if (takesParam(s.method, 'beta')) num('beta', (v) => v > 0, 'Beta must be > 0');
  if (takesParam(s.method, 'labelSmoothing')) num('labelSmoothing', isLabelSmoothing, 'Label smoothing must be in [0, 0.5)');
  int('evalEvery', 0, 'Evaluate every');
  if (!hasValFile) num('valSplit', (v) => v >= 0 && v < 1, 'The validation split must be in [0, 1)');
  int('checkpointEvery', 1, 'Checkpoint every');
  int('keepCheckpoints', 1, 'Checkpoints kept');
  return e;
}

/** The training file: a built-in demo file, or one the user picked (read as text in the page). */
export type DataChoice = { kind: 'builtin'; file: string } | { kind: 'file'; name: string; text: string };
/** Where validation rows come from. */
export type ValChoice = { kind: 'none' } | { kind: 'split' } | { kind: 'builtin' } | { kind: 'file'; name: string; text: string };

/** The text of a built-in demo file, fetched from the site (cached by the service worker for offline use). */
export async function fetchBuiltin(file: string, base: string = document.baseURI): Promise<string> {
  const url = new URL(DEMO_DATA_PATH + file, base).href;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not fetch the built-in ${file} (${res.status} ${res.statusText})`);
  return res.text();
}
