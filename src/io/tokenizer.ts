// Tokenizer and chat template of a model, read from its own files; never touches the network.
//
// Why @huggingface/tokenizers + @huggingface/jinja and not @huggingface/transformers: transformers.js v4's
// PreTrainedTokenizer is a thin wrapper around exactly these two packages (`new Tokenizer(tokenizerJSON,
// tokenizerConfig)` for encode/decode, `new Template(chat_template).render({messages, add_generation_prompt,
// ...special tokens})` for apply_chat_template), but its package entry also statically imports
// onnxruntime-web (browser) or onnxruntime-node + sharp (Node), none of which any bundler can drop (no
// `sideEffects: false`) and which transformers.js has no narrower export for. Using the two packages directly
// gives the same tokenization and template rendering, keeps the worker bundle small, and makes no request by
// construction (neither package has any loading or fetching code), so there is no `env.allowRemoteModels` to set.
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { AlloyError } from '../common/errors.ts';
import { hasFile, readJson, readText, type ModelFiles } from './model-files.ts';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface AlloyTokenizer {
  /** one more than the largest token id, added tokens included */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  /** every id that ends generation: the tokenizer's eos token, then generation_config's (or config's) eos ids */
  readonly eosTokenIds: readonly number[];
  /** the pad token, or the eos token when there is none (as transformers.js falls back) */
  readonly padTokenId: number | null;
  readonly hasChatTemplate: boolean;
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}

const TOKENIZER = 'tokenizer.json';
const TOKENIZER_CONFIG = 'tokenizer_config.json';
const SPECIAL_TOKENS_MAP = 'special_tokens_map.json';
const TEMPLATE_JINJA = 'chat_template.jinja';
const TEMPLATE_JSON = 'chat_template.json';

type Json = Record<string, unknown>;

/** The token attributes a chat template may refer to, as transformers passes them to the renderer. */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

export async function loadTokenizer(m: ModelFiles): Promise<AlloyTokenizer> {
  if (!hasFile(m, TOKENIZER)) {
    throw new AlloyError(
      `${m.label} has no ${TOKENIZER}. Alloy needs the fast-tokenizer file (tokenizer.json) that most Hugging Face ` +
        `models ship; tokenizers stored only as vocab/merges or sentencepiece files are not supported.`,
      { file: TOKENIZER },
    );
  }
  const tokenizerJson = await readObject(m, TOKENIZER);
  const config = hasFile(m, TOKENIZER_CONFIG) ? await readObject(m, TOKENIZER_CONFIG) : {};
  // Old repos keep their special tokens only in special_tokens_map.json; tokenizer_config.json wins where both do.
  if (hasFile(m, SPECIAL_TOKENS_MAP)) {
    const map = await readObject(m, SPECIAL_TOKENS_MAP);
    for (const key of SPECIAL_TOKEN_KEYS) if (config[key] == null && map[key] != null) config[key] = map[key];
  }

  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, config);
  } catch (e) {
    throw new AlloyError(`${m.label}: ${TOKENIZER} could not be loaded (${(e as Error).message})`, { file: TOKENIZER }, { cause: e });
  }

  const specials: Record<string, string> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const t = tokenString(config[key], key);
    if (t !== null) specials[key] = t;
  }
  const idOf = (t: string | undefined): number | null => (t === undefined ? null : (tok.token_to_id(t) ?? null));
  const eosId = idOf(specials.eos_token);
  const eosTokenIds = unique([eosId, ...(await generationEosIds(m))]);

  let vocabSize = 0;
  for (const id of tok.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);

  const chat = await findChatTemplate(m, config);
  let template: Template | null = null;
  const compiled = (): Template => {
    if (!chat) {
      throw new AlloyError(
        `${m.label} has no chat template (looked in ${TOKENIZER_CONFIG}, ${TEMPLATE_JINJA}, ${TEMPLATE_JSON}); ` +
          `train it on plain text, or pick an instruct model.`,
        { file: TOKENIZER_CONFIG, field: 'chat_template' },
      );
    }
    try {
      template ??= new Template(chat.source);
    } catch (e) {
      throw new AlloyError(`${m.label}: the chat template in ${chat.file} does not parse (${(e as Error).message})`, {
        file: chat.file,
        field: 'chat_template',
      });
    }
    return template;
  };

  return {
    vocabSize,
    bosTokenId: idOf(specials.bos_token),
    eosTokenIds,
    padTokenId: idOf(specials.pad_token) ?? eosId,
    hasChatTemplate: chat !== null,
    encode(text, { addSpecialTokens = true } = {}) {
      return tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    },
    decode(ids, { skipSpecialTokens = false } = {}) {
      // tokenizers.js refuses an empty list; an empty generation is an empty string
      if (ids.length === 0) return '';
      return tok.decode([...ids], { skip_special_tokens: skipSpecialTokens });
    },
    applyChatTemplate(messages, { addGenerationPrompt = false } = {}) {
      const t = compiled();
      try {
        return t.render({
          messages: messages.map(({ role, content }) => ({ role, content })),
          add_generation_prompt: addGenerationPrompt,
          ...specials,
        });
      } catch (e) {
        throw new AlloyError(`${m.label}: rendering the chat template from ${chat!.file} failed (${(e as Error).message})`, {
          file: chat!.file,
          field: 'chat_template',
        });
      }
    },
  };
}

async function readObject(m: ModelFiles, path: string): Promise<Json> {
  const v = await readJson(m, path);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new AlloyError(`${m.label}: ${path} is not a JSON object`, { file: path });
  }
  return v as Json;
}

/** Token strings appear as plain strings or as AddedToken objects ({content, ...}, older files add __type). */
function tokenString(v: unknown, field: string): string | null {
  if (v == null || v === '') return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new AlloyError(`${TOKENIZER_CONFIG}: "${field}" is neither a string nor a token object`, { file: TOKENIZER_CONFIG, field });
}

/**
 * Generation stops on generation_config.json's eos ids (Llama 3 Instruct lists several there), falling back to
 * config.json's like transformers' generate() does. Both files are optional for the tokenizer.
 */
async function generationEosIds(m: ModelFiles): Promise<number[]> {
  for (const file of ['generation_config.json', 'config.json']) {
    if (!hasFile(m, file)) continue;
    const eos = (await readObject(m, file)).eos_token_id;
    const ids = (Array.isArray(eos) ? eos : [eos]).filter((x): x is number => Number.isInteger(x));
    if (ids.length > 0) return ids;
  }
  return [];
}

/**
 * transformers loads a separate chat_template.jinja (or chat_template.json) over tokenizer_config.json's field;
 * a list of named templates means "default".
 */
async function findChatTemplate(m: ModelFiles, config: Json): Promise<{ source: string; file: string } | null> {
  if (hasFile(m, TEMPLATE_JINJA)) return { source: await readText(m, TEMPLATE_JINJA), file: TEMPLATE_JINJA };
  let value: unknown = config.chat_template;
  let file = TOKENIZER_CONFIG;
  if (hasFile(m, TEMPLATE_JSON)) {
    value = (await readObject(m, TEMPLATE_JSON)).chat_template;
    file = TEMPLATE_JSON;
  }
  if (value == null || value === '') return null;
  if (typeof value === 'string') return { source: value, file };
  if (Array.isArray(value)) {
    const named = value.find((t: unknown) => (t as { name?: unknown })?.name === 'default') as { template?: unknown } | undefined;
    if (typeof named?.template === 'string') return { source: named.template, file };
    throw new AlloyError(`${m.label}: ${file} lists chat templates but none named "default"`, { file, field: 'chat_template' });
  }
  throw new AlloyError(`${m.label}: "chat_template" in ${file} is not a string`, { file, field: 'chat_template' });
}

function unique(ids: (number | null)[]): number[] {
  return [...new Set(ids.filter((x): x is number => x !== null))];
}
