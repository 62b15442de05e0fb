/**
 * Training rows from JSONL in TRL's dataset shapes, turned into token sequences for an objective
 * (src/engine/train/objectives.ts), tokenised as TRL does (REFERENCE-SEMANTICS.md §2).
 *
 * Shapes: {text} · {prompt, completion} · {prompt, chosen, rejected}, and the pre-tokenised
 * {input_ids} · {prompt_ids, completion_ids} · {prompt_ids, chosen_ids, rejected_ids}.
 * Output layout: Sequence {ids, promptLen}; for paired objectives (DPO, IPO, ORPO) the batch is [chosen_0 … chosen_{P−1}, rejected_0 …],
 * each = prompt ids followed by the answer's ids, as TRL concatenates them.
 *
 * Tokenisation (non-conversational data): EOS appended to text / completion / chosen / rejected if missing;
 * completion ids = tok(prompt + completion)[len(tok(prompt)):] (so merges across the boundary follow the text);
 * ORPO also prepends BOS to the prompt when the tokenizer has one and it is missing. Pre-tokenised rows are used
 * as given. Conversational rows ({messages}, or prompt/answers as message lists) are rendered with the model's
 * chat template and tokenised as TRL does in conversational.ts; a tokenizer without a template refuses them,
 * naming the row. Shapes from other tools (Alpaca, ShareGPT, CSV, TXT) are converted to these by shapes.ts.
 */
import { AlloyError } from '../../common/errors.ts';
import { objectiveOf, takesParam } from '../../common/objectives/registry.ts';
import type { RowKind } from '../../common/objectives/common.ts';
import type { Method, Sequence } from '../../common/training-data.ts';
import { conversationalSequences, isConversationalRow, type ChatRowTokenizer, type ConversationalOptions } from './conversational.ts';

/** encode + BOS/EOS for text rows; applyChatTemplate (optional) for conversational rows. AlloyTokenizer fits. */
export type RowTokenizer = ChatRowTokenizer;

export interface JsonlRow {
  /** 1-based line number in the file */
  line: number;
  value: Record<string, unknown>;
}

/** Non-empty lines of a JSONL file as objects; a malformed line fails with its number and the reason. */
export function parseJsonl(text: string, file = 'dataset'): JsonlRow[] {
  const rows: JsonlRow[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new AlloyError(`${file} line ${i + 1}: not valid JSON (${(e as Error).message})`, { file });
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new AlloyError(`${file} line ${i + 1}: expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`, { file });
    }
    rows.push({ line: i + 1, value: value as Record<string, unknown> });
  });
  if (rows.length === 0) throw new AlloyError(`${file}: no rows`, { file });
  return rows;
}

/** The row shapes each kind of objective takes (the objective's `rows`, objectives/common.ts), for errors. */
const EXPECTED: Record<RowKind, string> = {
  text: '{text}, {messages} or {input_ids}',
  'prompt-completion': '{text}, {prompt, completion}, {messages}, {input_ids} or {prompt_ids, completion_ids}',
  preference: '{prompt, chosen, rejected} or {prompt_ids, chosen_ids, rejected_ids}',
};

function has(o: Record<string, unknown>, ...keys: string[]): boolean {
  return keys.every((k) => k in o);
}

/** How rows become sequences beyond what the method decides. */
export type RowOptions = ConversationalOptions;

/**
 * The sequences of `method` for these rows. `vocab` bounds pre-tokenised ids; `tok` is needed only for text rows.
 * With `assistantOnlyLoss` (SFT only) {messages} rows score their assistant turns only; conversational
 * {prompt, completion} rows already score only the completion; any other row is refused, as it has no turns to mark.
 */
export function rowsToSequences(method: Method, rows: readonly JsonlRow[], tok: RowTokenizer | null, vocab: number, file = 'dataset', opts: RowOptions = {}): Sequence[] {
  const where = (r: JsonlRow) => `${file} line ${r.line}`;
  const objective = objectiveOf(method);
  if (opts.assistantOnlyLoss && !takesParam(method, 'assistantOnlyLoss')) {
    throw new AlloyError(`assistant-only loss is an SFT option (TRL's SFTConfig.assistant_only_loss); method ${method} has no use for it`, { file });
  }
  const ids = (r: JsonlRow, key: string): number[] => {
    const v = r.value[key];
    if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x) || (x as number) < 0 || (x as number) >= vocab)) {
      throw new AlloyError(`${where(r)}: "${key}" must be a list of token ids in [0, ${vocab})`, { file, field: key });
    }
    return v as number[];
  };
  const str = (r: JsonlRow, key: string): string => {
    const v = r.value[key];
    if (Array.isArray(v)) throw new AlloyError(`${where(r)}: "${key}" must be a string, got a list`, { file, field: key });
    if (typeof v !== 'string') throw new AlloyError(`${where(r)}: "${key}" must be a string`, { file, field: key });
    return v;
  };
  const need = (): RowTokenizer => {
    if (!tok) throw new AlloyError(`${file}: text rows need the model's tokenizer`, { file });
    return tok;
  };
  const eos = () => need().eosTokenIds[0] ?? null;
  const withEos = (x: number[]) => {
    const e = eos();
    return e === null || x[x.length - 1] === e ? x : [...x, e];
  };
  // prompt ids (special tokens as the tokenizer adds them) and the answer's ids after them, per TRL
  const split = (prompt: string, answer: string) => {
    const t = need();
    const p = t.encode(prompt);
    const full = t.encode(prompt + answer);
    const samePrefix = p.every((x, i) => full[i] === x);
    // when the boundary merges differently, fall back to tokenising the answer alone (no specials)
    const a = samePrefix ? full.slice(p.length) : t.encode(answer, { addSpecialTokens: false });
    return { p, a: withEos(a) };
  };
  const wrongShape = (r: JsonlRow): never => {
    throw new AlloyError(`${where(r)}: method ${method} expects ${EXPECTED[objective.rows]}; this row has ${Object.keys(r.value).map((k) => `"${k}"`).join(', ') || 'no fields'}`, { file });
  };
  const check = (r: JsonlRow, s: Sequence): Sequence => {
    if (s.ids.length < 2) throw new AlloyError(`${where(r)}: needs at least 2 tokens to score, got ${s.ids.length}`, { file });
    if (s.promptLen >= s.ids.length) throw new AlloyError(`${where(r)}: the completion is empty`, { file });
    return s;
  };

  if (!objective.paired) {
    const completions = objective.rows === 'prompt-completion';
    return rows.map((r) => {
      const o = r.value;
      if (isConversationalRow(o) && !has(o, 'input_ids')) return check(r, conversationalSequences(method, o, tok, where(r), file, opts)[0]!);
      if (opts.assistantOnlyLoss) {
        throw new AlloyError(`${where(r)}: assistant-only loss needs chat rows ({messages}, or {prompt, completion} as messages) to find the assistant turns; this row has ${Object.keys(o).map((k) => `"${k}"`).join(', ')}`, { file });
      }
      if (has(o, 'input_ids')) return check(r, { ids: ids(r, 'input_ids'), promptLen: 0 });
      if (has(o, 'text')) return check(r, { ids: withEos(need().encode(str(r, 'text'))), promptLen: 0 });
      if (completions && has(o, 'prompt_ids', 'completion_ids')) {
        const p = ids(r, 'prompt_ids');
        return check(r, { ids: [...p, ...ids(r, 'completion_ids')], promptLen: p.length });
      }
      if (completions && has(o, 'prompt', 'completion')) {
        const { p, a } = split(str(r, 'prompt'), str(r, 'completion'));
        return check(r, { ids: [...p, ...a], promptLen: p.length });
      }
      return wrongShape(r);
    });
  }
  const chosen: Sequence[] = [];
  const rejected: Sequence[] = [];
  for (const r of rows) {
    const o = r.value;
    let p: number[];
    let c: number[];
    let j: number[];
    if (!has(o, 'prompt_ids') && isConversationalRow(o)) {
      const [sc, sj] = conversationalSequences(method, o, tok, where(r), file);
      chosen.push(check(r, sc!));
      rejected.push(check(r, sj!));
      continue;
    }
    if (has(o, 'prompt_ids', 'chosen_ids', 'rejected_ids')) {
      p = ids(r, 'prompt_ids');
      c = ids(r, 'chosen_ids');
      j = ids(r, 'rejected_ids');
    } else if (has(o, 'prompt', 'chosen', 'rejected')) {
      const sc = split(str(r, 'prompt'), str(r, 'chosen'));
      const sr = split(str(r, 'prompt'), str(r, 'rejected'));
      p = sc.p;
      c = sc.a;
      j = sr.a;
      const bos = need().bosTokenId;
      // ORPOTrainer's tokenize_row prepends BOS to the prompt; DPOTrainer's does not
      if (objective.pairTokenisation === 'orpo' && bos !== null && p[0] !== bos) p = [bos, ...p];
    } else {
      return wrongShape(r);
    }
    chosen.push(check(r, { ids: [...p, ...c], promptLen: p.length }));
    rejected.push(check(r, { ids: [...p, ...j], promptLen: p.length }));
  }
  return [...chosen, ...rejected];
}
