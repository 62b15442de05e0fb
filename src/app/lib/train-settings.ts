// The Train panel's settings: defaults from engine/train/defaults.ts (the one source of truth the CLI and the
// Trainer read too), the form's fields and the checks that name the setting at fault from the settings schema
// (engine/train/settings.ts), the built-in demo datasets, and the stages of the study's recipe (CPT → SFT → ORPO).
import { TRAIN_DEFAULTS } from '../../engine/train/defaults.ts';
import { TRAIN_FIELDS, appliesTo, numberProblem, type SettingField } from '../../engine/train/settings.ts';
import { warmupStepsFromRatio } from '../../engine/train/schedule.ts';
import { LORA_TARGETS } from '../../engine/lora/targets.ts';
import { METHODS as OBJECTIVE_NAMES, methodsFor, objectiveOf, type Method } from '../../common/objectives/registry.ts';
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
    mode: 'lora',
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

/** The settings that are numbers (the form's inputs). */
export type NumKey = { [K in keyof TrainSettings]: TrainSettings[K] extends number ? K : never }[keyof TrainSettings];

/** The form's number fields that `method` reads (settings.ts `form`; an objective's only where it takes them). */
export function formFields(method: Method): (SettingField & { key: NumKey; form: NonNullable<SettingField['form']> })[] {
  return TRAIN_FIELDS.filter((f) => f.form !== undefined && appliesTo(f, method)) as ReturnType<typeof formFields>;
}

/** What is wrong with each setting, in words that name it; empty when the settings can run. */
export function checkSettings(s: TrainSettings, contextLength: number, hasValFile: boolean): SettingErrors {
  const e: SettingErrors = {};
  // every number of the form against its field's type and range (settings.ts), named by its label
  for (const f of formFields(s.method)) {
    const problem = numberProblem(f, s[f.key]);
    if (problem) e[f.key] = `${f.form.label[0]!.toUpperCase()}${f.form.label.slice(1)} ${problem}`;
  }
  if (s.targets.length === 0) e.targets = 'Choose at least one projection to adapt';
  else if (s.targets.some((t) => !(LORA_TARGETS as readonly string[]).includes(t))) e.targets = `Targets must be among ${LORA_TARGETS.join(', ')}`;
  if (!e.warmupSteps && !e.steps && s.warmupSteps > s.steps) e.warmupSteps = `Warm-up (${s.warmupSteps}) is longer than the run (${s.steps} steps)`;
  if (!e.seqLen && s.seqLen > contextLength) e.seqLen = `Sequence length ${s.seqLen} is longer than the model's context (${contextLength})`;
  // the panel's split may be 0 (no validation); the CLI's --val-split is given only to hold rows out
  const split = s.valSplit;
  if (!hasValFile && !(typeof split === 'number' && split >= 0 && split < 1)) e.valSplit = 'The validation split must be in [0, 1)';
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
