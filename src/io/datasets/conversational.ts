/**
 * Conversational rows (TRL's "conversational" dataset type: fields that hold lists of {role, content} messages)
 * rendered with the model's chat template and tokenised as TRL's trainers do (REFERENCE-SEMANTICS.md §2).
 *
 * Rendering (`renderConversation`) follows trl/data_utils.py::apply_chat_template, string for string:
 *   {messages}                    → text = template(messages)
 *   {prompt, completion}          → prompt = template(prompt, add_generation_prompt) — or continue_final_message
 *   {prompt, chosen, rejected}      when the prompt ends with an assistant turn —; each answer =
 *                                   template(prompt + answer) minus the rendered prompt, where the prompt is first
 *                                   cut to its common prefix with template(prompt + answer) (TRL does this for
 *                                   templates like DeepSeek-R1's that render the generation prompt differently).
 *
 * Tokenisation (`conversationalSequences`) follows each trainer at TRL HEAD. Rendered chat text is encoded
 * without adding special tokens (transformers' apply_chat_template(tokenize=True) passes add_special_tokens=False:
 * the template writes its own BOS), and no EOS is appended (the template ends each turn itself):
 *   SFT/CPT {messages}          every token scored. This is TRL's default: assistant_only_loss=False, and
 *                               completion_only_loss only applies to prompt/completion rows.
 *   SFT {messages}, with        only the assistant turns scored (`assistantMask`). TRL reads the spans from a
 *   assistant_only_loss         template's {% generation %} markers, which few templates have; Alloy finds them by
 *                               rendering prefixes of the chat instead, so any template that renders a
 *                               conversation as the concatenation of its turns works: a turn spans from the end of
 *                               template(turns before it, add_generation_prompt) to the end of template(turns up
 *                               to it), i.e. its content and the template's end-of-turn text (the model learns to
 *                               stop). A template that renders earlier turns differently once later ones follow is
 *                               refused, naming the row.
 *   SFT {prompt, completion}    ids = tok(template(prompt + completion)); the first len(tok(prompt)) are masked.
 *   DPO                         prompt = tok(prompt); answer = tok(template(prompt + answer))[len(prompt):].
 *   ORPO                        the experimental ORPOTrainer renders strings as above, then tokenize_row:
 *                               build_tokenized_answer (enc(prompt + answer) split at len(enc(prompt)), one token
 *                               earlier if the boundary merged), BOS prepended if missing, the tokenizer's EOS
 *                               appended if the answer does not already end with it.
 * One rendering serves all four: SFTTrainer and DPOTrainer at HEAD tokenise template(prompt,
 * add_generation_prompt=True) directly instead of the common-prefix string; the two agree for every template whose
 * generation prompt is how the assistant turn begins (ChatML, Llama 3, Mistral …). They differ only for a prompt
 * that ends with an assistant turn, where Alloy continues that turn (data_utils) rather than opening a new one.
 */
import { AlloyError } from '../../common/errors.ts';
import type { ChatMessage } from '../tokenizer.ts';
import { objectiveOf, takesParam } from '../../common/objectives/registry.ts';
import type { Method, Sequence } from '../../common/training-data.ts';

/** What rows.ts needs of a tokenizer for chat rows; AlloyTokenizer has all of it. */
export interface ChatRowTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly hasChatTemplate?: boolean;
  applyChatTemplate?(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}

export type RenderedConversation =
  | { kind: 'text'; text: string }
  | { kind: 'prompt-completion'; prompt: string; completion: string }
  | { kind: 'preference'; prompt: string; chosen: string; rejected: string };

/** True when `v` is a list of message-like objects (the test TRL's is_conversational makes, on one field). */
export function isMessageList(v: unknown): v is unknown[] {
  return Array.isArray(v) && v.length > 0 && typeof v[0] === 'object' && v[0] !== null && !Array.isArray(v[0]) && 'role' in v[0];
}

/** True when the row is conversational: {messages}, or a prompt/completion/chosen/rejected field holding messages. */
export function isConversationalRow(o: Record<string, unknown>): boolean {
  return ['messages', 'prompt', 'completion', 'chosen', 'rejected'].some((k) => Array.isArray(o[k]));
}

/** The messages of field `key`, each checked to be {role, content} strings; errors name the message. */
export function readMessages(o: Record<string, unknown>, key: string, where: string, file: string): ChatMessage[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length === 0) {
    throw new AlloyError(`${where}: "${key}" must be a non-empty list of {role, content} messages`, { file, field: key });
  }
  return v.map((m, i) => {
    const msg = m as { role?: unknown; content?: unknown } | null;
    if (typeof msg !== 'object' || msg === null || typeof msg.role !== 'string' || msg.role === '' || typeof msg.content !== 'string') {
      throw new AlloyError(`${where}: ${key}[${i}] must be {"role": string, "content": string}, got ${JSON.stringify(m)?.slice(0, 80)}`, {
        file,
        field: key,
      });
    }
    return { role: msg.role, content: msg.content };
  });
}

type Template = (messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }) => string;

/** The tokenizer's chat template, or a refusal that names the row and says what to do instead. */
export function chatTemplateOf(tok: ChatRowTokenizer | null, where: string, file: string, shape: string): Template {
  if (!tok) throw new AlloyError(`${where}: ${shape} rows need the model's tokenizer and chat template`, { file });
  if (tok.hasChatTemplate === false || !tok.applyChatTemplate) {
    throw new AlloyError(
      `${where}: ${shape} rows need the chat template, and this tokenizer has none; pick a model with a chat template ` +
        `(an Instruct model), or give the rows as plain {text} / {prompt, completion}`,
      { file, field: 'chat_template' },
    );
  }
  return tok.applyChatTemplate.bind(tok);
}

/**
 * The prompt as TRL renders it: add_generation_prompt after a final user (or other non-assistant) turn;
 * continue_final_message after a final assistant turn (the answer continues that message), which transformers
 * implements by rendering the whole chat and cutting right after the final message's content.
 */
function renderPrompt(render: Template, prompt: readonly ChatMessage[], where: string, file: string): string {
  const last = prompt[prompt.length - 1]!;
  if (last.role !== 'assistant') return render(prompt, { addGenerationPrompt: true });
  const full = render(prompt);
  const content = last.content;
  const at = full.lastIndexOf(content.trim());
  if (content.trim() === '' || at < 0) {
    throw new AlloyError(`${where}: the prompt ends with an assistant message that the chat template does not reproduce, so it cannot be continued`, {
      file,
      field: 'prompt',
    });
  }
  // transformers: keep the message's own trailing whitespace when the template preserved it
  return full.slice(0, full.slice(at, at + content.trimStart().length) === content ? at + content.trimStart().length : at + content.trim().length);
}

function commonPrefix(a: string, b: string): string {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return a.slice(0, n);
}

/** A conversational row rendered to strings, as trl/data_utils.py::apply_chat_template does. */
export function renderConversation(o: Record<string, unknown>, tok: ChatRowTokenizer | null, where: string, file = 'dataset'): RenderedConversation {
  if ('messages' in o) {
    const render = chatTemplateOf(tok, where, file, '{messages}');
    return { kind: 'text', text: render(readMessages(o, 'messages', where, file)) };
  }
  const answers = 'completion' in o ? ['completion'] : ['chosen', 'rejected'];
  const shape = answers.length === 1 ? 'conversational {prompt, completion}' : 'conversational {prompt, chosen, rejected}';
  const render = chatTemplateOf(tok, where, file, shape);
  for (const k of ['prompt', ...answers]) {
    if (!Array.isArray(o[k])) throw new AlloyError(`${where}: ${shape} needs "${k}" as a list of messages too, got ${typeof o[k]}`, { file, field: k });
  }
  const prompt = readMessages(o, 'prompt', where, file);
  let p = renderPrompt(render, prompt, where, file);
  const full = answers.map((k) => render([...prompt, ...readMessages(o, k, where, file)]));
  for (const f of full) p = commonPrefix(p, f);
  const [a, b] = full.map((f) => f.slice(p.length));
  if (answers.length === 1) return { kind: 'prompt-completion', prompt: p, completion: a! };
  return { kind: 'preference', prompt: p, chosen: a!, rejected: b! };
}

/**
 * 1 for each token of `ids` (the encoded `template(messages)`) inside an assistant turn, 0 elsewhere: TRL's
 * assistant_masks, found by rendering prefixes (see the top of this file). Token boundaries come from encoding each
 * rendered prefix, which must be a prefix of `ids` too (chat templates end turns with special tokens, which the
 * tokenizer never merges across).
 */
export function assistantMask(messages: readonly ChatMessage[], render: Template, enc: (s: string) => number[], ids: readonly number[], where: string, file: string): Uint8Array {
  const full = render(messages);
  const mask = new Uint8Array(ids.length);
  const refuse = (k: number, why: string): never => {
    throw new AlloyError(`${where}: assistant-only loss cannot mark assistant turn messages[${k}]: ${why}; train without assistant-only loss, or use {prompt, completion} rows`, {
      file,
      field: 'messages',
    });
  };
  // tokens of a rendered prefix of the conversation, checked to be a prefix of the conversation's tokens
  const tokensUpTo = (k: number, text: string): number => {
    if (!full.startsWith(text)) refuse(k, 'the chat template renders the earlier turns differently once later ones follow');
    const p = enc(text);
    if (p.length > ids.length || p.some((x, i) => ids[i] !== x)) refuse(k, 'its start or end falls inside a token');
    return p.length;
  };
  for (const [k, m] of messages.entries()) {
    if (m.role !== 'assistant') continue;
    let start: number;
    try {
      start = tokensUpTo(k, render(messages.slice(0, k), { addGenerationPrompt: true }));
    } catch (e) {
      if (e instanceof AlloyError) throw e;
      // some templates refuse to render a conversation that does not start with a user (or system) turn
      return refuse(k, `the chat template cannot render the turns before it (${(e as Error).message})`);
    }
    const end = tokensUpTo(k, render(messages.slice(0, k + 1)));
    mask.fill(1, start, end);
  }
  return mask;
}

export interface ConversationalOptions {
  /** SFT {messages} rows: score the assistant turns only (TRL's assistant_only_loss); default false, as TRL */
  assistantOnlyLoss?: boolean;
}

/**
 * The sequences of one conversational row for `method`: one for CPT/SFT, [chosen, rejected] for a paired
 * objective (DPO, IPO, ORPO)
 * (rows.ts lays the batch out as all chosen, then all rejected).
 */
export function conversationalSequences(
  method: Method,
  o: Record<string, unknown>,
  tok: ChatRowTokenizer | null,
  where: string,
  file = 'dataset',
  opts: ConversationalOptions = {},
): Sequence[] {
  const objective = objectiveOf(method);
  const preference = objective.paired;
  const kind = 'messages' in o ? 'text' : 'completion' in o ? 'prompt-completion' : 'chosen' in o || 'rejected' in o ? 'preference' : null;
  if (kind === null || (kind === 'preference') !== preference || (objective.rows === 'text' && kind !== 'text')) {
    const expected = preference
      ? '{prompt, chosen, rejected} (strings, or lists of messages)'
      : objective.rows === 'text'
        ? '{text} or {messages}'
        : '{messages} or {prompt, completion} (strings, or lists of messages)';
    throw new AlloyError(`${where}: method ${method} expects ${expected}; this row has ${Object.keys(o).map((k) => `"${k}"`).join(', ')}`, { file });
  }
  const r = renderConversation(o, tok, where, file);
  const t = tok!;
  const enc = (s: string) => t.encode(s, { addSpecialTokens: false });
  if (r.kind === 'text') {
    const ids = enc(r.text);
    if (!(opts.assistantOnlyLoss && takesParam(method, 'assistantOnlyLoss'))) return [{ ids, promptLen: 0 }];
    const messages = readMessages(o, 'messages', where, file);
    const lossMask = assistantMask(messages, chatTemplateOf(tok, where, file, '{messages}'), enc, ids, where, file);
    if (!lossMask.includes(1)) {
      throw new AlloyError(`${where}: assistant-only loss has nothing to train on: the conversation has no assistant turn`, { file, field: 'messages' });
    }
    return [{ ids, promptLen: 0, lossMask }];
  }
  if (r.kind === 'prompt-completion') {
    // SFTTrainer: completion_mask = [0]·len(prompt_ids) + [1]·(rest), over the ids of the whole rendered chat
    return [{ ids: enc(r.prompt + r.completion), promptLen: enc(r.prompt).length }];
  }
  if (objective.pairTokenisation === 'dpo') {
    const p = enc(r.prompt);
    return [r.chosen, r.rejected].map((a) => ({ ids: [...p, ...enc(r.prompt + a).slice(p.length)], promptLen: p.length }));
  }
  // ORPO tokenize_row
  const bos = t.bosTokenId;
  const eos = t.eosTokenIds[0] ?? null;
  const pe = enc(r.prompt);
  return [r.chosen, r.rejected].map((a) => {
    const full = enc(r.prompt + a);
    let cut = pe.length;
    if (pe.some((x, i) => full[i] !== x)) cut -= 1;
    let p = full.slice(0, cut);
    let ans = full.slice(cut);
    if (bos !== null && p[0] !== bos) p = [bos, ...p];
    if (eos !== null && ans[ans.length - 1] !== eos) ans = [...ans, eos];
    return { ids: [...p, ...ans], promptLen: p.length };
  });
}
