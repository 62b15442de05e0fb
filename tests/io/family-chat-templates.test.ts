// Each family's fixture carries its own special tokens, BOS handling and chat template (scripts/fixtures
// tokenizer-files.ts, chat-templates.ts): a chat prompt must render exactly as the real model's template renders it,
// and encode as the real tokenizer would (special tokens as single ids, Gemma's <bos> once).
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { loadTokenizer, type AlloyTokenizer } from '../../src/io/tokenizer.ts';

const load = (name: string) => loadTokenizer(dirModelFiles(join('public/hub', OWNER, name, 'resolve', REVISION)));
beforeAll(async () => {
  await ensureFixtures('public/hub');
});

const SYS = { role: 'system', content: 'Be brief.' } as const;
const U1 = { role: 'user', content: 'Hi there' } as const;
// an earlier assistant turn that reasoned: Qwen3 drops its <think> block from the history
const A1 = { role: 'assistant', content: '<think>\nThe user greets me.\n</think>\n\nHello!' } as const;
const U2 = { role: 'user', content: '  What is silk?  ' } as const;

describe('Gemma 3 fixture: <bos>, <start_of_turn>user/model turns, the system message in the first user turn', () => {
  let tok: AlloyTokenizer;
  beforeAll(async () => {
    tok = await load('tiny-gemma3');
  });

  it('renders as gemma-3-it\'s template: one <bos>, roles user/model, contents trimmed, system folded into the first turn', () => {
    expect(tok.applyChatTemplate([U1], { addGenerationPrompt: true })).toBe('<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n');
    expect(tok.applyChatTemplate([SYS, U1, A1, U2], { addGenerationPrompt: true })).toBe(
      '<bos><start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n' +
        '<start_of_turn>model\n<think>\nThe user greets me.\n</think>\n\nHello!<end_of_turn>\n' +
        '<start_of_turn>user\nWhat is silk?<end_of_turn>\n<start_of_turn>model\n',
    );
    expect(() => tok.applyChatTemplate([U1, U2])).toThrow(/Conversation roles must alternate user\/assistant/);
  });

  it('BOS: plain text gets <bos> (2) in front; a rendered chat, encoded without special tokens, has exactly one', () => {
    expect([tok.bosTokenId, tok.padTokenId]).toEqual([2, 0]);
    expect(tok.eosTokenIds).toEqual([1, 5]); // <eos>, then generation_config's <end_of_turn>
    const plain = tok.encode('Hi there');
    expect(plain[0]).toBe(2);
    expect(plain.slice(1)).toEqual(tok.encode('Hi there', { addSpecialTokens: false }));
    const chat = tok.encode(tok.applyChatTemplate([U1], { addGenerationPrompt: true }), { addSpecialTokens: false });
    expect(chat.slice(0, 2)).toEqual([2, 4]); // <bos> <start_of_turn>
    expect(chat.filter((id) => id === 2)).toHaveLength(1);
    expect(chat.filter((id) => id === 5)).toHaveLength(1); // one <end_of_turn>
  });
});

describe('Qwen3 fixture: ChatML with Qwen3\'s think handling', () => {
  let tok: AlloyTokenizer;
  beforeAll(async () => {
    tok = await load('tiny-qwen3');
  });

  it('renders as Qwen3\'s template: no default system prompt, earlier reasoning dropped, the generation prompt open for thinking', () => {
    expect(tok.applyChatTemplate([U1], { addGenerationPrompt: true })).toBe('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n');
    expect(tok.applyChatTemplate([SYS, U1, A1, U2], { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n' +
        '<|im_start|>user\n  What is silk?  <|im_end|>\n<|im_start|>assistant\n',
    );
    // the last assistant turn (after the last user query) keeps its reasoning, re-wrapped
    expect(tok.applyChatTemplate([U1, A1])).toBe('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<think>\nThe user greets me.\n</think>\n\nHello!<|im_end|>\n');
  });

  it('no BOS; <think>, </think>, <|im_start|>, <|im_end|> are single ids; eos <|im_end|>, pad <|endoftext|>', () => {
    expect(tok.bosTokenId).toBeNull();
    expect(tok.encode('Hi there')).toEqual(tok.encode('Hi there', { addSpecialTokens: false }));
    expect(tok.encode('<think>\n</think>', { addSpecialTokens: false }).filter((id) => id === 3 || id === 4)).toEqual([3, 4]);
    expect([tok.eosTokenIds, tok.padTokenId]).toEqual([[2], 0]);
  });
});

describe('SmolLM3 fixture: its metadata system block and reasoning modes', () => {
  let tok: AlloyTokenizer;
  beforeAll(async () => {
    tok = await load('tiny-smollm3');
  });
  // the template's strftime_now("%d %B %Y"), rendered now (a test running across midnight could see two dates)
  const today = () => {
    const d = new Date();
    return `${String(d.getDate()).padStart(2, '0')} ${d.toLocaleString('en-US', { month: 'long' })} ${d.getFullYear()}`;
  };
  const header = (mode: string, instructions: string) =>
    `<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nToday Date: ${today()}\nReasoning Mode: ${mode}\n\n## Custom Instructions\n\n${instructions}\n\n`;

  it('renders as SmolLM3-3B\'s template: /think by default with its default instructions, a system message as custom instructions', () => {
    const think = tok.applyChatTemplate([U1], { addGenerationPrompt: true });
    const block = header('/think', '').slice(0, -2); // up to "## Custom Instructions\n\n"
    expect(think.startsWith(`${block}You are a helpful AI assistant named SmolLM, trained by Hugging Face. Your role as an assistant involves thoroughly exploring questions`)).toBe(true);
    // (as in the real template, the system block is not closed by <|im_end|> when no tools are given)
    expect(think.endsWith('the conclusion.\n\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    expect(tok.applyChatTemplate([SYS, U1, A1], { addGenerationPrompt: false })).toBe(
      header('/think', 'Be brief.') + '<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<think>\nThe user greets me.\n</think>\n\nHello!<|im_end|>\n',
    );
  });

  it('/no_think in the system message: the short default-free instructions and an empty think block before each answer', () => {
    const sys = { role: 'system', content: 'Be brief. /no_think' } as const;
    expect(tok.applyChatTemplate([sys, U1, { role: 'assistant', content: 'Hello!' }, U2], { addGenerationPrompt: true })).toBe(
      header('/no_think', 'Be brief.') +
        '<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\nHello!<|im_end|>\n' +
        '<|im_start|>user\n  What is silk?  <|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n',
    );
  });

  it('no BOS added; <|im_start|>, <|im_end|>, <think> are single ids; eos <|im_end|> (3), pad 6', () => {
    expect(tok.bosTokenId).toBe(0);
    expect(tok.encode('Hi there')).toEqual(tok.encode('Hi there', { addSpecialTokens: false }));
    expect(tok.encode('<|im_start|>user<|im_end|><think>', { addSpecialTokens: false }).filter((id) => id < 7)).toEqual([2, 3, 4]);
    expect([tok.eosTokenIds, tok.padTokenId]).toEqual([[3], 6]);
  });
});
