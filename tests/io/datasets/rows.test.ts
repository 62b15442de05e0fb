// TRL dataset rows → token sequences: every shape, EOS/BOS rules, prompt lengths, and errors that name the line.
import { describe, expect, it } from 'vitest';
import { parseJsonl, rowsToSequences, type RowTokenizer } from '../../../src/io/datasets/rows.ts';

// One id per character (a = 10, b = 11, …), BOS 1 added by encode() unless told not to, EOS 2.
const tok: RowTokenizer = {
  bosTokenId: 1,
  eosTokenIds: [2],
  encode: (text, o) => [...(o?.addSpecialTokens === false ? [] : [1]), ...[...text].map((ch) => ch.charCodeAt(0) - 87)],
};
const jsonl = (...rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n');

describe('dataset rows', () => {
  it('text and input_ids rows score every token; EOS appended to text only', () => {
    const rows = parseJsonl(jsonl({ text: 'ab' }, { input_ids: [5, 6, 7] }));
    expect(rowsToSequences('cpt', rows, tok, 100)).toEqual([
      { ids: [1, 10, 11, 2], promptLen: 0 },
      { ids: [5, 6, 7], promptLen: 0 },
    ]);
  });

  it('SFT prompt/completion: prompt masked, EOS after the completion', () => {
    const rows = parseJsonl(jsonl({ prompt: 'ab', completion: 'c' }, { prompt_ids: [1, 4], completion_ids: [5, 2] }));
    expect(rowsToSequences('sft', rows, tok, 100)).toEqual([
      { ids: [1, 10, 11, 12, 2], promptLen: 3 },
      { ids: [1, 4, 5, 2], promptLen: 2 },
    ]);
  });

  it('preference rows: [chosen…, rejected…], prompt then answer; ORPO adds a missing BOS', () => {
    const rows = parseJsonl(jsonl({ prompt: 'a', chosen: 'b', rejected: 'cd' }, { prompt_ids: [4], chosen_ids: [5], rejected_ids: [6, 7] }));
    expect(rowsToSequences('dpo', rows, tok, 100)).toEqual([
      { ids: [1, 10, 11, 2], promptLen: 2 },
      { ids: [4, 5], promptLen: 1 },
      { ids: [1, 10, 12, 13, 2], promptLen: 2 },
      { ids: [4, 6, 7], promptLen: 1 },
    ]);
    const noBos: RowTokenizer = { ...tok, encode: (t) => tok.encode(t, { addSpecialTokens: false }) };
    expect(rowsToSequences('orpo', parseJsonl(jsonl({ prompt: 'a', chosen: 'b', rejected: 'c' })), noBos, 100)[0]).toEqual({ ids: [1, 10, 11, 2], promptLen: 2 });
  });

  it('errors name the line and the reason, or the fields the method expects', () => {
    expect(() => parseJsonl('{"text": "a"}\n\n{"text": oops}')).toThrow(/dataset line 3: not valid JSON/);
    expect(() => parseJsonl('[1, 2]')).toThrow(/line 1: expected a JSON object/);
    const wrong = parseJsonl(jsonl({ text: 'a' }, { question: 'x' }));
    expect(() => rowsToSequences('sft', wrong, tok, 100)).toThrow(/line 2: method sft expects \{text\}, \{prompt, completion\}.*"question"/);
    expect(() => rowsToSequences('dpo', wrong, tok, 100)).toThrow(/line 1: method dpo expects \{prompt, chosen, rejected\}/);
    expect(() => rowsToSequences('cpt', parseJsonl(jsonl({ input_ids: [1, 500] })), tok, 384)).toThrow(/line 1: "input_ids" must be a list of token ids in \[0, 384\)/);
    expect(() => rowsToSequences('sft', parseJsonl(jsonl({ messages: [] })), tok, 100)).toThrow(/line 1: \{messages\} rows need the chat template/);
  });
});

describe('dataset rows: conversational routing', () => {
  it('a chat row with a tokenizer lacking a template is refused naming the row; a list where text belongs is named', () => {
    expect(() => rowsToSequences('dpo', parseJsonl(jsonl({ prompt: [{ role: 'user', content: 'q' }], chosen: [], rejected: [] })), tok, 100)).toThrow(
      /line 1: conversational \{prompt, chosen, rejected\} rows need the chat template, and this tokenizer has none/,
    );
    expect(() => rowsToSequences('cpt', parseJsonl(jsonl({ text: ['a'] })), tok, 100)).toThrow(/line 1: "text" must be a string, got a list/);
  });

  it('uses the tokenizer chat template when there is one (rendering and masking: conversational.test.ts)', () => {
    const chat: RowTokenizer = { ...tok, hasChatTemplate: true, applyChatTemplate: (m, o) => m.map((x) => `${x.role[0]}${x.content};`).join('') + (o?.addGenerationPrompt ? 'a' : '') };
    const [s] = rowsToSequences('sft', parseJsonl(jsonl({ prompt: [{ role: 'user', content: 'b' }], completion: [{ role: 'assistant', content: 'c' }] })), chat, 100);
    // "ub;" + "a" | "c;" — chat text is encoded without the BOS encode() would add
    expect(s).toEqual({ ids: tok.encode('ub;ac;', { addSpecialTokens: false }), promptLen: 4 });
  });
});
