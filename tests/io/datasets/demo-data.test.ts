// The built-in demo data (public/demo/data) and the held-out benchmark: every file parses in its stated shape,
// tokenises for its methods with the fixture tokenizer, and the benchmark does not repeat the training text.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/io/bytes.ts';
import type { ModelFiles } from '../../../src/io/model-files.ts';
import { loadTokenizer, type AlloyTokenizer } from '../../../src/io/tokenizer.ts';
import { readDataset } from '../../../src/io/datasets/shapes.ts';
import { rowsToSequences } from '../../../src/io/datasets/rows.ts';
import { parseMultipleChoiceJsonl } from '../../../src/engine/eval/multiple-choice.ts';
import { fixtureTokenizer } from '../../../scripts/fixtures/tokenizer-files.ts';

const DIR = 'public/demo/data';
const read = (f: string) => readDataset(readFileSync(`${DIR}/${f}`, 'utf8'), f);
const BENCHMARK = 'public/benchmarks/materials-bio-mc.jsonl';
const CATEGORIES = ['silk', 'collagen', 'bone', 'nacre', 'chitin', 'keratin', 'mechanics', 'metals', 'general'];

/** every run of n words (lower case, punctuation dropped) */
function shingles(text: string, n = 8): Set<string> {
  const w = text.toLowerCase().replace(/[^a-z0-9\s-]/g, ' ').split(/\s+/).filter(Boolean);
  const out = new Set<string>();
  for (let i = 0; i + n <= w.length; i++) out.add(w.slice(i, i + n).join(' '));
  return out;
}
const str = (v: unknown) => v as string;

describe('demo data', () => {
  const corpus = read('corpus.txt');
  const validation = read('validation.txt');
  const sft = read('sft.jsonl');
  const chat = read('sft-chat.jsonl');
  const pref = read('preference.jsonl');

  it('each file has its stated shape and size', () => {
    expect([corpus, validation, sft, chat, pref].map((d) => [d.shape.id, d.rows.length > 0])).toEqual([
      ['text', true],
      ['text', true],
      ['prompt-completion', true],
      ['messages', true],
      ['preference', true],
    ]);
    expect(corpus.rows.length).toBeGreaterThanOrEqual(15);
    expect(corpus.rows.length).toBeLessThanOrEqual(25);
    expect(validation.rows.length).toBeGreaterThanOrEqual(4);
    expect(sft.rows.length).toBeGreaterThanOrEqual(40);
    expect(pref.rows.length).toBeGreaterThanOrEqual(30);
  });

  it('SFT completions start with a space (prompt + completion reads as text); prompts are unique; preference answers differ', () => {
    for (const r of sft.rows) expect(str(r.value.completion)).toMatch(/^ \S/);
    expect(new Set(sft.rows.map((r) => r.value.prompt)).size).toBe(sft.rows.length);
    for (const r of pref.rows) {
      expect(str(r.value.chosen)).toMatch(/^ \S/);
      expect(str(r.value.rejected)).toMatch(/^ \S/);
      expect(r.value.chosen).not.toBe(r.value.rejected);
    }
  });

  it('sft-chat.jsonl holds exactly the pairs of sft.jsonl as user/assistant messages', () => {
    expect(chat.rows.map((r) => r.value.messages)).toEqual(
      sft.rows.map((r) => [
        { role: 'user', content: r.value.prompt },
        { role: 'assistant', content: str(r.value.completion).trimStart() },
      ]),
    );
  });

  it('validation paragraphs are held out: none shares eight words in a row with the corpus', () => {
    const seen = new Set(corpus.rows.flatMap((r) => [...shingles(str(r.value.text))]));
    for (const r of validation.rows) expect([...shingles(str(r.value.text))].filter((s) => seen.has(s))).toEqual([]);
  });

  describe('tokenised with the fixture tokenizer (ChatML template)', () => {
    let tok: AlloyTokenizer;
    beforeAll(async () => {
      const f = fixtureTokenizer(384, 128);
      const files: Record<string, string> = {
        'tokenizer.json': JSON.stringify(f.tokenizerJson),
        'tokenizer_config.json': JSON.stringify(f.tokenizerConfig),
        'special_tokens_map.json': JSON.stringify(f.specialTokensMap),
      };
      const m: ModelFiles = {
        label: 'tiny',
        files: Object.entries(files).map(([path, t]) => ({ path, size: t.length })),
        open: async (path) => bytesSource(new TextEncoder().encode(files[path]!), path),
      };
      tok = await loadTokenizer(m);
    });

    it('every file gives sequences for its methods', () => {
      const n = (method: 'cpt' | 'sft' | 'dpo' | 'orpo', d: typeof sft) => rowsToSequences(method, d.rows, tok, tok.vocabSize, d.file).length;
      expect(n('cpt', corpus)).toBe(corpus.rows.length);
      expect(n('cpt', validation)).toBe(validation.rows.length);
      expect(n('sft', sft)).toBe(sft.rows.length);
      expect(n('sft', chat)).toBe(chat.rows.length);
      expect(n('dpo', pref)).toBe(2 * pref.rows.length);
      expect(n('orpo', pref)).toBe(2 * pref.rows.length);
    });
  });
});

describe('held-out multiple-choice benchmark', () => {
  const text = readFileSync(BENCHMARK, 'utf8');
  const raw = text.trim().split('\n').map((l) => JSON.parse(l) as { question: string; choices: string[]; answer: number; category: string });

  it('is well-formed: parses, distinct choices, a known category on every item, unique questions', () => {
    const items = parseMultipleChoiceJsonl(text, BENCHMARK);
    expect(items.length).toBeGreaterThanOrEqual(40);
    for (const it of raw) {
      expect(CATEGORIES).toContain(it.category);
      expect(new Set(it.choices).size).toBe(it.choices.length);
      expect(it.choices.length).toBe(4);
    }
    expect(new Set(raw.map((i) => i.question)).size).toBe(raw.length);
    // the correct answer sits in every position, so always picking one letter cannot score well
    expect(new Set(raw.map((i) => i.answer)).size).toBe(4);
  });

  it('does not copy the training data: no item shares eight words in a row with an SFT or preference row', () => {
    const train = [...read('sft.jsonl').rows, ...read('preference.jsonl').rows].flatMap((r) => Object.values(r.value).map(String));
    const seen = new Set(train.flatMap((t) => [...shingles(t)]));
    const prompts = new Set(read('sft.jsonl').rows.map((r) => String(r.value.prompt).toLowerCase()));
    for (const it of raw) {
      expect(prompts.has(it.question.toLowerCase())).toBe(false);
      const mine = shingles(`${it.question} ${it.choices[it.answer]}`);
      expect([...mine].filter((s) => seen.has(s)), it.question).toEqual([]);
      // nor is a correct answer an SFT completion word for word
      expect(train.some((t) => t.trim().toLowerCase() === it.choices[it.answer]!.toLowerCase() && t.length > 20)).toBe(false);
    }
  });
});
