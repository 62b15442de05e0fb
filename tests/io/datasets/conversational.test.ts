// Conversational rows: rendering with the fixture's ChatML template exactly as TRL's apply_chat_template does, and
// which tokens each trainer scores (TRL HEAD: SFT messages → all, prompt/completion → completion, DPO → answers,
// ORPO → answers + BOS/EOS rules of tokenize_row). Written out by hand, then checked token by token.
import { beforeAll, describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/io/bytes.ts';
import type { ModelFiles } from '../../../src/io/model-files.ts';
import { loadTokenizer, type AlloyTokenizer } from '../../../src/io/tokenizer.ts';
import { renderConversation } from '../../../src/io/datasets/conversational.ts';
import { parseJsonl, rowsToSequences } from '../../../src/io/datasets/rows.ts';
import { DEFAULT_SYSTEM_PROMPT, fixtureTokenizer } from '../../../scripts/fixtures/tokenizer-files.ts';

function memoryModel(files: Record<string, string>): ModelFiles {
  const enc = new TextEncoder();
  const bytes = new Map(Object.entries(files).map(([p, t]) => [p, enc.encode(t)]));
  return {
    label: 'tiny',
    files: [...bytes].map(([path, b]) => ({ path, size: b.byteLength })),
    async open(path) {
      return bytesSource(bytes.get(path)!, path);
    },
  };
}

// The tiny fixtures' tokenizer (scripts/fixtures): byte-level BPE, <|im_start|> = 1 (also its BOS), <|im_end|> = 2 (EOS).
async function fixture(withTemplate = true): Promise<AlloyTokenizer> {
  const f = fixtureTokenizer(384, 128);
  const config = { ...(f.tokenizerConfig as Record<string, unknown>) };
  if (!withTemplate) delete config.chat_template;
  return loadTokenizer(
    memoryModel({
      'tokenizer.json': JSON.stringify(f.tokenizerJson),
      'tokenizer_config.json': JSON.stringify(config),
      'special_tokens_map.json': JSON.stringify(f.specialTokensMap),
    }),
  );
}

const SYS = `<|im_start|>system\n${DEFAULT_SYSTEM_PROMPT}<|im_end|>\n`;
const user = (content: string) => ({ role: 'user', content });
const assistant = (content: string) => ({ role: 'assistant', content });
const jsonl = (...rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n');

describe('conversational rows', () => {
  let tok: AlloyTokenizer;
  beforeAll(async () => {
    tok = await fixture();
  });
  /** the text of the tokens a sequence scores: ids[t+1] for t+1 ≥ promptLen (see engine/train/objectives.ts) */
  const scored = (s: { ids: readonly number[]; promptLen: number }) => tok.decode(s.ids.slice(Math.max(1, s.promptLen)));
  const unscored = (s: { ids: readonly number[]; promptLen: number }) => tok.decode(s.ids.slice(0, Math.max(1, s.promptLen)));

  it('renders {messages}, prompt/completion and preference rows as trl.data_utils.apply_chat_template', () => {
    expect(renderConversation({ messages: [user('What is nacre?'), assistant('Mother of pearl.')] }, tok, 'l1')).toEqual({
      kind: 'text',
      text: `${SYS}<|im_start|>user\nWhat is nacre?<|im_end|>\n<|im_start|>assistant\nMother of pearl.<|im_end|>\n`,
    });
    expect(renderConversation({ prompt: [user('What is nacre?')], completion: [assistant('Mother of pearl.')] }, tok, 'l1')).toEqual({
      kind: 'prompt-completion',
      prompt: `${SYS}<|im_start|>user\nWhat is nacre?<|im_end|>\n<|im_start|>assistant\n`,
      completion: 'Mother of pearl.<|im_end|>\n',
    });
    const system = { role: 'system', content: 'Be brief.' };
    expect(renderConversation({ prompt: [system, user('Silk?')], chosen: [assistant('A protein fibre.')], rejected: [assistant('A metal.')] }, tok, 'l1')).toEqual({
      kind: 'preference',
      prompt: '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSilk?<|im_end|>\n<|im_start|>assistant\n',
      chosen: 'A protein fibre.<|im_end|>\n',
      rejected: 'A metal.<|im_end|>\n',
    });
  });

  it('continues a prompt that ends with an assistant turn (continue_final_message) instead of opening a new one', () => {
    const r = renderConversation({ prompt: [user('Name a tough shell.'), assistant('Abalone')], completion: [assistant(' nacre.')] }, tok, 'l1');
    // the completion message renders as its own turn; TRL takes whatever follows the continued prompt
    expect(r).toEqual({
      kind: 'prompt-completion',
      prompt: `${SYS}<|im_start|>user\nName a tough shell.<|im_end|>\n<|im_start|>assistant\nAbalone`,
      completion: '<|im_end|>\n<|im_start|>assistant\n nacre.<|im_end|>\n',
    });
  });

  it('SFT on {messages} scores every token (TRL default: assistant_only_loss off); no EOS added, no BOS added', () => {
    const [s] = rowsToSequences('sft', parseJsonl(jsonl({ messages: [user('Why is bone tough?'), assistant('Collagen and mineral.')] })), tok, tok.vocabSize);
    const text = `${SYS}<|im_start|>user\nWhy is bone tough?<|im_end|>\n<|im_start|>assistant\nCollagen and mineral.<|im_end|>\n`;
    expect(s!.promptLen).toBe(0);
    expect(s!.ids).toEqual(tok.encode(text, { addSpecialTokens: false }));
    expect(tok.decode(s!.ids)).toBe(text);
    // CPT takes {messages} rows the same way (SFTTrainer on language-modelling data)
    expect(rowsToSequences('cpt', parseJsonl(jsonl({ messages: [user('a'), assistant('b')] })), tok, tok.vocabSize)[0]!.promptLen).toBe(0);
  });

  it('SFT on conversational prompt/completion scores the completion only: the answer and its end-of-turn', () => {
    const [s] = rowsToSequences('sft', parseJsonl(jsonl({ prompt: [user('What is nacre?')], completion: [assistant('Mother of pearl.')] })), tok, tok.vocabSize);
    expect(unscored(s!)).toBe(`${SYS}<|im_start|>user\nWhat is nacre?<|im_end|>\n<|im_start|>assistant\n`);
    expect(scored(s!)).toBe('Mother of pearl.<|im_end|>\n');
  });

  it('DPO: [chosen…, rejected…], the shared prompt masked, each answer scored as rendered', () => {
    const rows = parseJsonl(
      jsonl(
        { prompt: [user('Silk?')], chosen: [assistant('A protein fibre.')], rejected: [assistant('A metal.')] },
        { prompt: [user('Bone?')], chosen: [assistant('Collagen plus apatite.')], rejected: [assistant('Pure calcium.')] },
      ),
    );
    const seqs = rowsToSequences('dpo', rows, tok, tok.vocabSize);
    expect(seqs.map(scored)).toEqual(['A protein fibre.<|im_end|>\n', 'Collagen plus apatite.<|im_end|>\n', 'A metal.<|im_end|>\n', 'Pure calcium.<|im_end|>\n']);
    expect(unscored(seqs[0]!)).toBe(`${SYS}<|im_start|>user\nSilk?<|im_end|>\n<|im_start|>assistant\n`);
    expect(seqs[0]!.promptLen).toBe(seqs[2]!.promptLen);
  });

  it("ORPO: tokenize_row appends the tokenizer's EOS after the template's closing newline; BOS already there", () => {
    const seqs = rowsToSequences('orpo', parseJsonl(jsonl({ prompt: [user('Silk?')], chosen: [assistant('A protein fibre.')], rejected: [assistant('A metal.')] })), tok, tok.vocabSize);
    expect(seqs[0]!.ids[0]).toBe(1);
    expect(seqs.map(scored)).toEqual(['A protein fibre.<|im_end|>\n<|im_end|>', 'A metal.<|im_end|>\n<|im_end|>']);
    expect(unscored(seqs[0]!)).toBe(`${SYS}<|im_start|>user\nSilk?<|im_end|>\n<|im_start|>assistant\n`);
  });

  it('refuses chat rows for a model without a chat template, naming the row', async () => {
    const plain = await fixture(false);
    const rows = parseJsonl(jsonl({ text: 'ok' }, { messages: [user('hi'), assistant('there')] }), 'chat.jsonl');
    expect(() => rowsToSequences('sft', rows, plain, plain.vocabSize, 'chat.jsonl')).toThrow(/chat\.jsonl line 2: \{messages\} rows need the chat template, and this tokenizer has none/);
    const pref = parseJsonl(jsonl({ prompt: [user('q')], chosen: [assistant('a')], rejected: [assistant('b')] }));
    expect(() => rowsToSequences('dpo', pref, plain, plain.vocabSize)).toThrow(/line 1: conversational \{prompt, chosen, rejected\} rows need the chat template/);
  });

  it('malformed chat rows name the line, the field and the message', () => {
    const good = { sft: { messages: [user('q'), assistant('a')] }, dpo: { prompt: [user('q')], chosen: [assistant('a')], rejected: [assistant('b')] } };
    const bad = (row: unknown, method: 'sft' | 'dpo' = 'sft') => () => rowsToSequences(method, parseJsonl(jsonl(good[method], row)), tok, tok.vocabSize);
    expect(bad({ messages: [user('a'), { role: 'assistant' }] })).toThrow(/line 2: messages\[1\] must be \{"role": string, "content": string\}/);
    expect(bad({ prompt: [user('a')], completion: 'b' })).toThrow(/line 2: conversational \{prompt, completion\} needs "completion" as a list of messages too/);
    expect(bad({ prompt: [user('a')], chosen: [assistant('b')] }, 'dpo')).toThrow(/line 2: conversational \{prompt, chosen, rejected\} needs "rejected" as a list of messages too/);
    expect(bad({ prompt: [user('a')], chosen: [assistant('b')], rejected: [assistant('c')] })).toThrow(/line 2: method sft expects \{messages\} or \{prompt, completion\}/);
    expect(bad({ prompt: [user('a')], completion: [] })).toThrow(/line 2: "completion" must be a non-empty list/);
  });
});
