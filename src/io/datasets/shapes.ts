/**
 * Dataset files as people bring them (JSONL, a JSON array, CSV with a header, plain TXT) and the row shapes other
 * tools write (Alpaca, ShareGPT, LLaMA-Factory preference rows), detected and converted to TRL's shapes so that
 * rows.ts has one vocabulary. The detector names the shape it found, so the Data panel can show it.
 *
 * Conversions (what each becomes, and why):
 * - Alpaca {instruction, input?, output, system?, history?} → conversational {prompt, completion} by default:
 *   user turn = instruction, plus "\n" + input when input is non-empty (LLaMA-Factory's alpaca converter), system
 *   and history become earlier turns. A prompt/completion row, because Alpaca and LLaMA-Factory score only the
 *   response, which is what TRL does for prompt/completion. `alpaca: 'template'` gives instead a plain
 *   {prompt, completion} in the Stanford Alpaca prompt ("Below is an instruction …### Response:\n"), for base
 *   models without a chat template. Alpaca preference rows {instruction, input?, chosen, rejected} likewise.
 * - ShareGPT {conversations: [{from, value}], system?} → {messages}, roles human→user, gpt→assistant,
 *   system→system (TRL's maybe_convert_to_chatml; user/assistant are kept). TRL then scores every token.
 * - LLaMA-Factory preference {conversations, chosen: {from, value}, rejected: {from, value}} → conversational
 *   {prompt: conversations, chosen: [answer], rejected: [answer]}; the conversation must end on a human turn.
 * - Implicit-prompt preference {chosen, rejected} (strings or chats that both start with the prompt) → explicit
 *   {prompt, chosen, rejected} by TRL's extract_prompt.
 * - TXT → one {text} row per paragraph (blank-line separated), or the whole file as one (`txt: 'document'`).
 * - CSV → the header's columns name the shape: text · prompt, completion · prompt, chosen, rejected ·
 *   instruction, input?, output (Alpaca); other columns are ignored.
 * Every row of a file must have the same shape (TRL decides masking from the first row); a row that fits none,
 * or a shape the chosen method cannot train, fails naming its line and the fields expected.
 */
import { AlloyError } from '../../common/errors.ts';
import type { ChatMessage } from '../tokenizer.ts';
import { methodsFor, type Method } from '../../common/objectives/registry.ts';
import { parseCsv } from './csv.ts';
import { parseJsonl, type JsonlRow } from './rows.ts';

export type ShapeId =
  | 'text'
  | 'prompt-completion'
  | 'preference'
  | 'messages'
  | 'conversational-prompt-completion'
  | 'conversational-preference'
  | 'tokenized'
  | 'tokenized-prompt-completion'
  | 'tokenized-preference'
  | 'implicit-preference'
  | 'alpaca'
  | 'alpaca-preference'
  | 'sharegpt'
  | 'sharegpt-preference';

export interface ShapeInfo {
  id: ShapeId;
  /** what to show a person, e.g. "ShareGPT conversations" */
  label: string;
  /** the fields that identify it */
  fields: string;
  /** the methods whose trainers take it (after conversion) */
  methods: readonly Method[];
}

// from the objective registry: who takes plain text, prompt/completion rows, preference pairs
const LM: readonly Method[] = methodsFor('text');
const SFT: readonly Method[] = methodsFor('prompt-completion');
const PREF: readonly Method[] = methodsFor('preference');

export const SHAPES: Readonly<Record<ShapeId, ShapeInfo>> = {
  text: { id: 'text', label: 'Plain text', fields: '{text}', methods: LM },
  'prompt-completion': { id: 'prompt-completion', label: 'Prompt / completion', fields: '{prompt, completion}', methods: SFT },
  preference: { id: 'preference', label: 'Preference pairs', fields: '{prompt, chosen, rejected}', methods: PREF },
  messages: { id: 'messages', label: 'Chat messages', fields: '{messages: [{role, content}]}', methods: LM },
  'conversational-prompt-completion': {
    id: 'conversational-prompt-completion',
    label: 'Chat prompt / completion',
    fields: '{prompt: [messages], completion: [messages]}',
    methods: SFT,
  },
  'conversational-preference': {
    id: 'conversational-preference',
    label: 'Chat preference pairs',
    fields: '{prompt: [messages], chosen: [messages], rejected: [messages]}',
    methods: PREF,
  },
  tokenized: { id: 'tokenized', label: 'Token ids', fields: '{input_ids}', methods: LM },
  'tokenized-prompt-completion': {
    id: 'tokenized-prompt-completion',
    label: 'Token ids, prompt / completion',
    fields: '{prompt_ids, completion_ids}',
    methods: SFT,
  },
  'tokenized-preference': {
    id: 'tokenized-preference',
    label: 'Token ids, preference pairs',
    fields: '{prompt_ids, chosen_ids, rejected_ids}',
    methods: PREF,
  },
  'implicit-preference': {
    id: 'implicit-preference',
    label: 'Preference pairs, prompt inside the answers',
    fields: '{chosen, rejected} (strings, or lists of messages)',
    methods: PREF,
  },
  alpaca: { id: 'alpaca', label: 'Alpaca instructions', fields: '{instruction, input?, output}', methods: SFT },
  'alpaca-preference': { id: 'alpaca-preference', label: 'Alpaca preference pairs', fields: '{instruction, input?, chosen, rejected}', methods: PREF },
  sharegpt: { id: 'sharegpt', label: 'ShareGPT conversations', fields: '{conversations: [{from, value}]}', methods: LM },
  'sharegpt-preference': {
    id: 'sharegpt-preference',
    label: 'LLaMA-Factory preference pairs',
    fields: '{conversations: [{from, value}], chosen: {from, value}, rejected: {from, value}}',
    methods: PREF,
  },
};

/** What each method can take, for error messages. */
export function expectedFor(method: Method): string {
  return (Object.values(SHAPES) as ShapeInfo[])
    .filter((s) => s.methods.includes(method))
    .map((s) => s.fields)
    .join(' · ');
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The shape of one row, or null when it fits none. Decided by field names (and lists vs strings), not values. */
export function detectShape(o: Record<string, unknown>): ShapeId | null {
  const has = (...k: string[]) => k.every((x) => x in o);
  if (has('prompt_ids', 'chosen_ids', 'rejected_ids')) return 'tokenized-preference';
  if (has('prompt_ids', 'completion_ids')) return 'tokenized-prompt-completion';
  if (has('input_ids')) return 'tokenized';
  if (has('conversations')) return isObj(o.chosen) || isObj(o.rejected) ? 'sharegpt-preference' : 'sharegpt';
  if (has('messages')) return 'messages';
  if (has('prompt', 'chosen', 'rejected')) return Array.isArray(o.prompt) ? 'conversational-preference' : 'preference';
  if (has('prompt', 'completion')) return Array.isArray(o.prompt) ? 'conversational-prompt-completion' : 'prompt-completion';
  if (has('instruction', 'chosen', 'rejected')) return 'alpaca-preference';
  if (has('instruction', 'output')) return 'alpaca';
  if (has('chosen', 'rejected')) return 'implicit-preference';
  if (has('text')) return 'text';
  return null;
}

export interface ConvertOptions {
  /** Alpaca rows as chat turns (default) or in the Stanford Alpaca prompt template as plain text */
  alpaca?: 'chat' | 'template';
}

const ALPACA_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n';
const ALPACA_NO_INPUT =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Response:\n';

/** The Stanford Alpaca prompt for an instruction and an optional input. */
export function alpacaPrompt(instruction: string, input = ''): string {
  return input === ''
    ? ALPACA_NO_INPUT.replace('{instruction}', () => instruction)
    : ALPACA_INPUT.replace('{instruction}', () => instruction).replace('{input}', () => input);
}

const SHAREGPT_ROLES: Record<string, string> = { human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', system: 'system' };

/** A row in its own shape → the TRL-shaped row rows.ts takes. TRL shapes come back as they are. */
export function toTrlRow(o: Record<string, unknown>, shape: ShapeId, where: string, file = 'dataset', options: ConvertOptions = {}): Record<string, unknown> {
  const fail = (why: string, field?: string): never => {
    throw new AlloyError(`${where}: ${why}`, { file, ...(field ? { field } : {}) });
  };
  const str = (key: string, optional = false): string => {
    const v = o[key];
    if (v === undefined || v === null) return optional ? '' : fail(`"${key}" is missing`, key);
    if (typeof v !== 'string') return fail(`"${key}" must be a string, got ${Array.isArray(v) ? 'a list' : typeof v}`, key);
    return v;
  };
  const turn = (m: unknown, label: string): ChatMessage => {
    if (!isObj(m) || typeof m.from !== 'string' || typeof m.value !== 'string') return fail(`${label} must be {"from": string, "value": string}`, label.split('[')[0]);
    const role = SHAREGPT_ROLES[m.from];
    if (!role) return fail(`${label} has "from": "${m.from}"; expected human, gpt or system (or user, assistant)`, label.split('[')[0]);
    return { role, content: m.value };
  };
  const conversation = (): ChatMessage[] => {
    const c = o.conversations;
    if (!Array.isArray(c) || c.length === 0) return fail('"conversations" must be a non-empty list of {from, value} turns', 'conversations');
    const turns = c.map((m, i) => turn(m, `conversations[${i}]`));
    const system = str('system', true);
    return system !== '' && turns[0]?.role !== 'system' ? [{ role: 'system', content: system }, ...turns] : turns;
  };
  const alpacaTurns = (): ChatMessage[] => {
    const msgs: ChatMessage[] = [];
    const system = str('system', true);
    if (system !== '') msgs.push({ role: 'system', content: system });
    const history = o.history;
    if (history !== undefined && history !== null) {
      if (!Array.isArray(history)) fail('"history" must be a list of [instruction, response] pairs', 'history');
      (history as unknown[]).forEach((h, i) => {
        if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
          fail(`history[${i}] must be a pair of strings [instruction, response]`, 'history');
        }
        const [q, a] = h as [string, string];
        msgs.push({ role: 'user', content: q }, { role: 'assistant', content: a });
      });
    }
    const input = str('input', true);
    msgs.push({ role: 'user', content: input === '' ? str('instruction') : `${str('instruction')}\n${input}` });
    return msgs;
  };
  const alpacaAsText = () => {
    if (o.history || o.system) fail('"system" and "history" need the chat form (alpaca: chat), not the Alpaca text template');
    return alpacaPrompt(str('instruction'), str('input', true));
  };

  switch (shape) {
    case 'alpaca':
      return options.alpaca === 'template'
        ? { prompt: alpacaAsText(), completion: str('output') }
        : { prompt: alpacaTurns(), completion: [{ role: 'assistant', content: str('output') }] };
    case 'alpaca-preference':
      return options.alpaca === 'template'
        ? { prompt: alpacaAsText(), chosen: str('chosen'), rejected: str('rejected') }
        : {
            prompt: alpacaTurns(),
            chosen: [{ role: 'assistant', content: str('chosen') }],
            rejected: [{ role: 'assistant', content: str('rejected') }],
          };
    case 'sharegpt':
      return { messages: conversation() };
    case 'sharegpt-preference': {
      const prompt = conversation();
      if (prompt[prompt.length - 1]!.role !== 'user') fail('"conversations" must end with a human turn; "chosen" and "rejected" are the answers to it', 'conversations');
      const answer = (k: string) => {
        const m = turn(o[k], k);
        if (m.role !== 'assistant') fail(`"${k}" must be a gpt (assistant) turn`, k);
        return [m];
      };
      return { prompt, chosen: answer('chosen'), rejected: answer('rejected') };
    }
    case 'implicit-preference':
      return extractPrompt(o, fail);
    default:
      return o;
  }
}

/**
 * trl/data_utils.py::extract_prompt: the prompt is the longest common start of chosen and rejected (characters
 * of strings, backing up over a final space; whole messages of chats), the answers are what follows. Preference
 * sets built from chat logs (e.g. the ORPO/DPO mixes the study used) ship this way.
 */
function extractPrompt(o: Record<string, unknown>, fail: (why: string, field?: string) => never): Record<string, unknown> {
  const { chosen, rejected } = o;
  const chat = Array.isArray(chosen) && Array.isArray(rejected);
  if (!chat && (typeof chosen !== 'string' || typeof rejected !== 'string')) {
    return fail('"chosen" and "rejected" must both be strings or both be lists of messages');
  }
  const c = chosen as string | unknown[];
  const r = rejected as string | unknown[];
  const n = Math.min(c.length, r.length);
  if (n === 0) return fail('"chosen" and "rejected" must not be empty');
  const same = (i: number) => (chat ? JSON.stringify((c as unknown[])[i]) === JSON.stringify((r as unknown[])[i]) : c[i] === r[i]);
  // as the Python loop: idx stops at the first difference, or stays at the last index when there is none
  let idx = 0;
  for (; idx < n; idx++) if (!same(idx)) break;
  if (idx === n) idx = n - 1;
  else if (!chat && idx > 0 && (c as string)[idx - 1] === ' ') idx -= 1;
  if (idx === 0) return fail('"chosen" and "rejected" share no prompt at the start; give the prompt as "prompt"');
  return { prompt: c.slice(0, idx), chosen: c.slice(idx), rejected: r.slice(idx) };
}

export type FileFormat = 'jsonl' | 'json' | 'csv' | 'txt';

/** The format a file name implies (JSONL when unsure: the format the trainers document). */
export function formatOf(file: string): FileFormat {
  const ext = /\.([a-z0-9]+)$/i.exec(file)?.[1]?.toLowerCase();
  if (ext === 'json') return 'json';
  if (ext === 'csv') return 'csv';
  if (ext === 'txt' || ext === 'text' || ext === 'md') return 'txt';
  return 'jsonl';
}

export interface ReadOptions extends ConvertOptions {
  /** defaults to formatOf(file) */
  format?: FileFormat;
  /** when given, a shape this method cannot train is refused with the fields it expects */
  method?: Method;
  /** TXT: one row per paragraph (default) or the whole file as one document */
  txt?: 'paragraphs' | 'document';
}

export interface Dataset {
  file: string;
  format: FileFormat;
  /** the shape the rows came in (before conversion) */
  shape: ShapeInfo;
  /** the rows in TRL shapes, with the lines they came from */
  rows: JsonlRow[];
}

/** A dataset file of any supported format and shape → TRL-shaped rows, naming the shape it found. */
export function readDataset(text: string, file = 'dataset', options: ReadOptions = {}): Dataset {
  const format = options.format ?? formatOf(file);
  const raw = format === 'csv' ? csvRows(text, file) : format === 'txt' ? txtRows(text, file, options.txt ?? 'paragraphs') : format === 'json' ? jsonRows(text, file) : parseJsonl(text, file);
  let first: { shape: ShapeId; line: number } | null = null;
  const rows = raw.map((r) => {
    const where = `${file} line ${r.line}`;
    const shape = detectShape(r.value);
    if (shape === null) {
      const want = options.method ? expectedFor(options.method) : (Object.values(SHAPES) as ShapeInfo[]).map((s) => s.fields).join(' · ');
      const got = Object.keys(r.value).map((k) => `"${k}"`).join(', ') || 'no fields';
      throw new AlloyError(`${where}: no known row shape; expected ${want}; this row has ${got}`, { file, line: r.line });
    }
    if (first === null) {
      first = { shape, line: r.line };
      if (options.method && !SHAPES[shape].methods.includes(options.method)) {
        throw new AlloyError(
          `${where}: rows are ${SHAPES[shape].label} ${SHAPES[shape].fields}, which train ${SHAPES[shape].methods.join(' or ')}; ` +
            `method ${options.method} expects ${expectedFor(options.method)}`,
          { file, line: r.line },
        );
      }
    } else if (shape !== first.shape) {
      throw new AlloyError(
        `${where}: this row is ${SHAPES[shape].label} ${SHAPES[shape].fields} but line ${first.line} is ${SHAPES[first.shape].label}; every row of a file needs the same shape`,
        { file, line: r.line },
      );
    }
    return { line: r.line, value: toTrlRow(r.value, shape, where, file, options) };
  });
  return { file, format, shape: SHAPES[first!.shape], rows };
}

/** CSV records as row objects holding the columns that name a shape. */
function csvRows(text: string, file: string): JsonlRow[] {
  const { header, records } = parseCsv(text, file);
  const known = ['text', 'prompt', 'completion', 'chosen', 'rejected', 'instruction', 'input', 'output', 'system'];
  const cols = header.map((h, k) => ({ h, k })).filter(({ h }) => known.includes(h));
  const shape = detectShape(Object.fromEntries(cols.map(({ h }) => [h, ''])));
  if (shape === null) {
    throw new AlloyError(
      `${file} line 1: the CSV header (${header.join(', ')}) names no known shape; expected columns text · prompt, completion · ` +
        'prompt, chosen, rejected · instruction, input, output',
      { file, line: 1 },
    );
  }
  return records.map((r) => ({ line: r.line, value: Object.fromEntries(cols.map(({ h, k }) => [h, r.fields[k]!])) }));
}

/** Paragraphs (runs of non-blank lines) as {text} rows, or the whole file as one row. */
export function txtRows(text: string, file: string, mode: 'paragraphs' | 'document'): JsonlRow[] {
  const src = text.replace(/^\uFEFF/, '');
  if (src.trim() === '') throw new AlloyError(`${file}: no text`, { file });
  if (mode === 'document') return [{ line: 1, value: { text: src.replace(/\s+$/, '') } }];
  const rows: JsonlRow[] = [];
  let para: string[] = [];
  let start = 0;
  src.split(/\r?\n/).forEach((l, i) => {
    if (l.trim() === '') {
      if (para.length) rows.push({ line: start, value: { text: para.join('\n') } });
      para = [];
      return;
    }
    if (!para.length) start = i + 1;
    para.push(l.replace(/\s+$/, ''));
  });
  if (para.length) rows.push({ line: start, value: { text: para.join('\n') } });
  return rows;
}

/**
 * A JSON array of row objects (how Alpaca and ShareGPT data usually ship), each with the line its object starts
 * on; a file that is not an array is read as JSONL (some tools name JSONL files .json).
 */
function jsonRows(text: string, file: string): JsonlRow[] {
  const src = text.replace(/^\uFEFF/, '');
  if (!src.trimStart().startsWith('[')) return parseJsonl(src, file);
  let data: unknown;
  try {
    data = JSON.parse(src);
  } catch (e) {
    throw new AlloyError(`${file}: not valid JSON (${(e as Error).message})`, { file });
  }
  const lines = elementLines(src);
  const arr = data as unknown[];
  if (arr.length === 0) throw new AlloyError(`${file}: no rows`, { file });
  return arr.map((v, i) => {
    const line = lines[i] ?? 1;
    if (!isObj(v)) throw new AlloyError(`${file} line ${line}: row ${i + 1} of the array is not a JSON object`, { file, line });
    return { line, value: v };
  });
}

/** The 1-based line where each element of a top-level JSON array starts (the text is known to be valid JSON). */
export function elementLines(src: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  let expectValue = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '\n') line++;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectValue && !/\s/.test(ch) && ch !== ']') {
      out.push(line);
      expectValue = false;
    }
    if (ch === '"') inString = true;
    else if (ch === '[' || ch === '{') {
      depth++;
      if (depth === 1) expectValue = true;
    } else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 1) expectValue = true;
  }
  return out;
}
