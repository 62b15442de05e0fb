// Conversational rows: rendering with the fixture's ChatML template exactly as TRL's apply_chat_template does, and
// which tokens each trainer scores (TRL HEAD: SFT messages → all, prompt/completion → completion, DPO → answers,
// ORPO → answers + BOS/EOS rules of tokenize_row). Written out by hand, then checked token by token.
import { beforeAll, describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/io/bytes.ts';
import type { ModelFiles } from '../../../src/io/model-files.ts';
import { loadTokenizer, type AlloyTokenizer } from '../../../src/io/tokenizer.ts';
import { renderConversation, type ChatRowTokenizer } from '../../../src/io/datasets/conversational.ts';
import { completionTargets, computeObjective } from '../../../src/engine/train/objectives.ts';
import type { Sequence } from '../../../src/common/training-data.ts';
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

  describe('assistant-only loss (TRL assistant_only_loss)', () => {
    const chat = { messages: [{ role: 'system', content: 'Be brief.' }, user('Why is bone tough?'), assistant('Collagen.'), user('And nacre?'), assistant('Bricks and mortar.')] };
    /** the scored targets of a sequence, decoded run by run (a run = consecutive scored tokens) */
    const runs = (s: Sequence, decode: (ids: number[]) => string = (ids) => tok.decode(ids)) => {
      const out: string[] = [];
      let cur: number[] = [];
      for (const y of [...completionTargets(s), -1]) {
        if (y >= 0) cur.push(y);
        else if (cur.length) {
          out.push(decode(cur));
          cur = [];
        }
      }
      return out;
    };

    it('off by default: every token of a {messages} row is scored; on: each assistant turn and its end-of-turn, nothing else', () => {
      const rows = parseJsonl(jsonl(chat));
      const [all] = rowsToSequences('sft', rows, tok, tok.vocabSize);
      expect(all!.lossMask).toBeUndefined();
      expect(runs(all!)).toHaveLength(1);
      const [only] = rowsToSequences('sft', rows, tok, tok.vocabSize, 'dataset', { assistantOnlyLoss: true });
      // the same tokens, only fewer of them scored
      expect(only!.ids).toEqual(all!.ids);
      expect(runs(only!)).toEqual(['Collagen.<|im_end|>\n', 'Bricks and mortar.<|im_end|>\n']);
      // the SFT loss is the mean over those tokens alone: weight 1/count on each, 0 on the system and user turns
      const logp = [new Float64Array(only!.ids.length).fill(-2)];
      const count = completionTargets(only!).filter((y) => y >= 0).length;
      const { loss, weights } = computeObjective('sft', [only!], logp);
      expect(loss).toBeCloseTo(2, 12);
      expect(weights[0]!.filter((w) => w > 0)).toHaveLength(count);
      expect(count).toBe(tok.encode('Collagen.<|im_end|>\nBricks and mortar.<|im_end|>\n', { addSpecialTokens: false }).length);
    });

    it('conversational prompt/completion rows keep their completion-only loss; other rows and methods are refused', () => {
      const pc = parseJsonl(jsonl({ prompt: [user('What is nacre?')], completion: [assistant('Mother of pearl.')] }));
      expect(rowsToSequences('sft', pc, tok, tok.vocabSize, 'd', { assistantOnlyLoss: true })).toEqual(rowsToSequences('sft', pc, tok, tok.vocabSize, 'd'));
      const text = parseJsonl(jsonl(chat, { text: 'Bone is tough.' }), 'mixed.jsonl');
      expect(() => rowsToSequences('sft', text, tok, tok.vocabSize, 'mixed.jsonl', { assistantOnlyLoss: true })).toThrow(
        /mixed\.jsonl line 2: assistant-only loss needs chat rows \(\{messages\}, or \{prompt, completion\} as messages\) to find the assistant turns; this row has "text"/,
      );
      expect(() => rowsToSequences('cpt', parseJsonl(jsonl(chat)), tok, tok.vocabSize, 'd', { assistantOnlyLoss: true })).toThrow(/assistant-only loss is an SFT option .*method cpt/);
      expect(() => rowsToSequences('sft', parseJsonl(jsonl({ messages: [user('hi')] })), tok, tok.vocabSize, 'd', { assistantOnlyLoss: true })).toThrow(
        /d line 1: assistant-only loss has nothing to train on: the conversation has no assistant turn/,
      );
    });

    it('refuses a template that renders earlier turns differently once later ones follow, naming the row and turn', () => {
      // one character per token; earlier assistant turns shortened, as templates that drop past reasoning do
      const render = (ms: readonly { role: string; content: string }[], o?: { addGenerationPrompt?: boolean }) =>
        ms.map((m, i) => `<${m.role}>${m.role === 'assistant' && i < ms.length - 1 ? m.content.slice(0, 3) : m.content}|`).join('') + (o?.addGenerationPrompt ? '<assistant>' : '');
      const chars: ChatRowTokenizer = { encode: (t) => [...t].map((c) => c.charCodeAt(0)), bosTokenId: null, eosTokenIds: [], hasChatTemplate: true, applyChatTemplate: render };
      const rows = parseJsonl(jsonl(chat), 'c.jsonl');
      expect(() => rowsToSequences('sft', rows, chars, 1 << 16, 'c.jsonl', { assistantOnlyLoss: true })).toThrow(
        /c\.jsonl line 1: assistant-only loss cannot mark assistant turn messages\[2\]: the chat template renders the earlier turns differently once later ones follow/,
      );
      // the same tokenizer with a template that only appends: the spans are exact, character for character
      const plain: ChatRowTokenizer = { ...chars, applyChatTemplate: (ms, o) => ms.map((m) => `<${m.role}>${m.content}|`).join('') + (o?.addGenerationPrompt ? '<assistant>' : '') };
      const [s] = rowsToSequences('sft', rows, plain, 1 << 16, 'c.jsonl', { assistantOnlyLoss: true });
      expect(runs(s!, (ids) => String.fromCharCode(...ids))).toEqual(['Collagen.|', 'Bricks and mortar.|']);
    });
  });
});
