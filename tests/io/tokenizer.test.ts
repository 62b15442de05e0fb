import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/io/bytes.ts';
import { AlloyError } from '../../src/common/errors.ts';
import type { ModelFiles } from '../../src/io/model-files.ts';
import { loadTokenizer, type AlloyTokenizer } from '../../src/io/tokenizer.ts';
import { referenceEncode } from '../../scripts/fixtures/bpe.ts';
import { DEFAULT_SYSTEM_PROMPT, SPECIAL_TOKENS, fixtureTokenizer } from '../../scripts/fixtures/tokenizer-files.ts';

const fixture = fixtureTokenizer(384, 128);

function memoryModel(files: Record<string, string>, label = 'memory-model'): ModelFiles {
  const enc = new TextEncoder();
  const bytes = new Map(Object.entries(files).map(([p, t]) => [p, enc.encode(t)]));
  return {
    label,
    files: [...bytes].map(([path, b]) => ({ path, size: b.byteLength })),
    async open(path) {
      const b = bytes.get(path);
      if (!b) throw new Error(`no ${path}`);
      return bytesSource(b, path);
    },
  };
}

function fixtureFiles(): Record<string, string> {
  return {
    'config.json': JSON.stringify({ eos_token_id: 2, bos_token_id: 1 }),
    'generation_config.json': JSON.stringify({ bos_token_id: 1, eos_token_id: 2, pad_token_id: 2 }),
    'tokenizer.json': JSON.stringify(fixture.tokenizerJson),
    'tokenizer_config.json': JSON.stringify(fixture.tokenizerConfig),
    'special_tokens_map.json': JSON.stringify(fixture.specialTokensMap),
  };
}

const reference = (text: string) => referenceEncode(text, fixture.vocab, fixture.merges, SPECIAL_TOKENS);

// Tokenizers must work offline: any attempt to reach the network fails the test instead of silently succeeding.
const realFetch = globalThis.fetch;
let fetchCalls = 0;
beforeAll(() => {
  globalThis.fetch = (async (input: unknown) => {
    fetchCalls++;
    throw new Error(`network access during a tokenizer test: ${String(input)}`);
  }) as typeof fetch;
});
afterAll(() => {
  globalThis.fetch = realFetch;
});

describe('loadTokenizer on the fixture tokenizer', () => {
  let tok: AlloyTokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(memoryModel(fixtureFiles()));
  });

  it('knows the vocabulary size and the special tokens', () => {
    expect(tok.vocabSize).toBe(384);
    expect(tok.encode('<|endoftext|><|im_start|><|im_end|>')).toEqual([0, 1, 2]);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenIds).toEqual([2]);
    expect(tok.padTokenId).toBe(2);
    expect(tok.hasChatTemplate).toBe(true);
  });

  it('round-trips text through encode and decode', () => {
    const texts = [
      'Spider silk is tougher than Kevlar.',
      '  leading spaces, trailing spaces  ',
      'Line one\nLine two\n\n\ttabbed',
      "It's 42 and 3.14 — déjà vu, 丝绸, 🕷️!",
      '',
    ];
    for (const t of texts) expect(tok.decode(tok.encode(t))).toBe(t);
  });

  it('encodes like an independent greedy-merge BPE over the same merges', () => {
    const sentences = [
      'Collagen is a triple helix; nacre is made of aragonite tablets.',
      'Question: Which fibre is spun by spiders? Answer: silk.',
      'Unseen words like xylophone and 1234 fall back to smaller pieces.',
    ];
    for (const s of sentences) expect(tok.encode(s)).toEqual(reference(s));
  });

  it('gives the same ids as when the fixtures were made (the trainer is deterministic)', () => {
    // Pinned so that a change to the trainer, the corpus or the tokenizer library shows up here.
    expect(tok.encode('Spider silk is a protein fibre.')).toEqual([86, 115, 358, 314, 280, 261, 306, 305, 49]);
  });

  it('uses merges: common domain words are single tokens', () => {
    expect(tok.encode(' silk')).toHaveLength(1);
    expect(tok.encode(' collagen').length).toBeLessThan(' collagen'.length);
  });

  it('decodes special tokens, or skips them on request', () => {
    const ids = tok.encode('<|im_start|>user\nhi<|im_end|>');
    expect(ids[0]).toBe(1);
    expect(ids.at(-1)).toBe(2);
    expect(tok.decode(ids)).toBe('<|im_start|>user\nhi<|im_end|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\nhi');
  });

  it('renders the ChatML template exactly, with the default system prompt when none is given', () => {
    const chat = [
      { role: 'user', content: 'What is nacre?' },
      { role: 'assistant', content: 'Mother of pearl.' },
    ];
    expect(tok.applyChatTemplate(chat)).toBe(
      `<|im_start|>system\n${DEFAULT_SYSTEM_PROMPT}<|im_end|>\n` +
        '<|im_start|>user\nWhat is nacre?<|im_end|>\n' +
        '<|im_start|>assistant\nMother of pearl.<|im_end|>\n',
    );
    expect(
      tok.applyChatTemplate(
        [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Silk?' },
        ],
        { addGenerationPrompt: true },
      ),
    ).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSilk?<|im_end|>\n<|im_start|>assistant\n');
  });

  it('tokenizes a rendered chat with the control tokens as single ids', () => {
    const text = tok.applyChatTemplate([{ role: 'user', content: 'Why is bone tough?' }], { addGenerationPrompt: true });
    const ids = tok.encode(text);
    expect(ids).toEqual(reference(text));
    expect(ids.filter((i) => i === 1)).toHaveLength(3);
    expect(ids.filter((i) => i === 2)).toHaveLength(2);
  });

  it('made no network request', () => {
    expect(fetchCalls).toBe(0);
  });
});

describe('loadTokenizer file handling', () => {
  async function failure(files: Record<string, string>): Promise<AlloyError> {
    const e = await loadTokenizer(memoryModel(files, 'test/model')).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(AlloyError);
    return e as AlloyError;
  }

  it('names tokenizer.json when it is missing', async () => {
    const { 'tokenizer.json': _, ...rest } = fixtureFiles();
    const e = await failure(rest);
    expect(e.message).toContain('tokenizer.json');
    expect(e.message).toContain('test/model');
    expect(e.where.file).toBe('tokenizer.json');
  });

  it('names the file that is not valid JSON', async () => {
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
      const e = await failure({ ...fixtureFiles(), [file]: '{"model": ' });
      expect(e.message).toContain(file);
      expect(e.where.file).toBe(file);
    }
  });

  it('names tokenizer.json when its content is not a tokenizer', async () => {
    const e = await failure({ ...fixtureFiles(), 'tokenizer.json': JSON.stringify({ model: { type: 'Nonsense' } }) });
    expect(e.where.file).toBe('tokenizer.json');
  });

  it('works without a chat template, and says so when one is asked for', async () => {
    const cfg = { ...(fixture.tokenizerConfig as Record<string, unknown>) };
    delete cfg.chat_template;
    const tok = await loadTokenizer(memoryModel({ ...fixtureFiles(), 'tokenizer_config.json': JSON.stringify(cfg) }));
    expect(tok.hasChatTemplate).toBe(false);
    expect(tok.encode('silk').length).toBeGreaterThan(0);
    expect(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toThrow(/no chat template/);
  });

  it('prefers chat_template.jinja over tokenizer_config.json, as transformers does', async () => {
    const tok = await loadTokenizer(
      memoryModel({
        ...fixtureFiles(),
        'chat_template.jinja': '{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}',
      }),
    );
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('[user] hi<|im_end|>');
  });

  it('names the file of a chat template that does not parse', async () => {
    const tok = await loadTokenizer(memoryModel({ ...fixtureFiles(), 'chat_template.jinja': '{% for m in %}' }));
    expect(() => tok.applyChatTemplate([])).toThrow(AlloyError);
    expect(() => tok.applyChatTemplate([])).toThrow(/chat_template\.jinja/);
  });

  it('takes every eos id from generation_config.json', async () => {
    const tok = await loadTokenizer(
      memoryModel({ ...fixtureFiles(), 'generation_config.json': JSON.stringify({ eos_token_id: [2, 0] }) }),
    );
    expect(tok.eosTokenIds).toEqual([2, 0]);
  });
});
