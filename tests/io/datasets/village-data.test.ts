// The demo domain Sunny Hill (public/demo/village): the generator reproduces the committed files byte for byte, every
// file parses in its stated shape and tokenises for its method with the demo model's tokenizer, and the benchmark is
// held out: no question appears in any training file, verbatim or nearly (no shared run of seven words; a question
// has to name the child and, for "what happened when", the event: "did Sam fall in the mud" is six words of fact).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeVillage, VILLAGE_DIR } from '../../../scripts/make-village.ts';
import { readDataset } from '../../../src/io/datasets/shapes.ts';
import { rowsToSequences } from '../../../src/io/datasets/rows.ts';
import { parseBenchmark } from '../../../src/io/benchmarks/load.ts';
import { parseMultipleChoiceJsonl } from '../../../src/engine/eval/multiple-choice.ts';
import { loadTokenizer } from '../../../src/io/tokenizer.ts';
import { dirModelFiles } from '../../../src/io/node/dir-model-files.ts';
import { DEMO_DATA } from '../../../src/engine/recipe/presets.ts';

const text = (f: string) => readFileSync(`${VILLAGE_DIR}/${f}`, 'utf8');
const read = (f: string) => readDataset(text(f), f);
const CATEGORIES = ['pet', 'colour', 'home', 'food', 'toy', 'day'];
const CHILDREN = ['Lily', 'Tim', 'Ben', 'Mia', 'Sam', 'Anna'];

/** lower case, letters and digits only, one space between words */
const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
function shingles(s: string, n: number): Set<string> {
  const w = norm(s).split(' ').filter(Boolean);
  const out = new Set<string>();
  for (let i = 0; i + n <= w.length; i++) out.add(w.slice(i, i + n).join(' '));
  return out;
}

describe('Sunny Hill demo data', () => {
  const corpus = read('corpus.txt');
  const sft = read('sft.jsonl');
  const pref = read('preference.jsonl');
  const bench = parseMultipleChoiceJsonl(text('benchmark.jsonl'), 'benchmark.jsonl');
  const general = parseBenchmark(text('general.jsonl'), 'general.jsonl');
  const training = [...corpus.rows.map((r) => r.value.text as string), ...sft.rows.map((r) => `${r.value.prompt as string}${r.value.completion as string}`), ...pref.rows.map((r) => `${r.value.prompt as string}${r.value.chosen as string} ${r.value.rejected as string}`)];

  it('scripts/make-village.ts reproduces the committed files byte for byte', () => {
    const f = makeVillage();
    expect(f.corpus).toBe(text('corpus.txt'));
    expect(f.sft).toBe(text('sft.jsonl'));
    expect(f.preference).toBe(text('preference.jsonl'));
    expect(f.benchmark).toBe(text('benchmark.jsonl'));
  });

  it('the demo recipe reads these files', () => {
    for (const p of Object.values(DEMO_DATA)) expect(p.startsWith('demo/village/')).toBe(true);
  });

  it('each file has its stated shape and size; SFT answers are the benchmark answers', () => {
    expect([corpus, sft, pref].map((d) => d.shape.id)).toEqual(['text', 'prompt-completion', 'preference']);
    expect(corpus.rows.length).toBe(72);
    expect(sft.rows.length).toBe(108);
    expect(pref.rows.length).toBe(108);
    expect(general.kind).toBe('perplexity');
    if (general.kind === 'perplexity') expect(general.docs.length).toBe(8);
    for (const r of sft.rows) {
      expect(r.value.prompt as string).toMatch(/^Question: .+\?\nAnswer:$/);
      expect(r.value.completion as string).toMatch(/^ \S.*\.$/);
    }
    for (const r of pref.rows) expect(r.value.chosen).not.toBe(r.value.rejected);
    // every benchmark answer is taught by some SFT completion (the facts are in the training data, the questions not)
    const taught = new Set(sft.rows.map((r) => (r.value.completion as string).slice(1, -1)));
    for (const it of bench) expect(taught.has(it.choices[it.answer]!)).toBe(true);
  });

  it('the benchmark: 72 four-choice items, 12 per kind of fact, choices distinct, every child asked equally', () => {
    expect(bench.length).toBe(72);
    const byCat = new Map<string, number>();
    for (const it of bench) {
      byCat.set(it.category!, (byCat.get(it.category!) ?? 0) + 1);
      expect(it.choices.length).toBe(4);
      expect(new Set(it.choices).size).toBe(4);
      expect(it.answer).toBeGreaterThanOrEqual(0);
      expect(it.answer).toBeLessThan(4);
    }
    expect([...byCat.keys()].sort()).toEqual([...CATEGORIES].sort());
    for (const n of byCat.values()) expect(n).toBe(12);
    for (const c of CHILDREN) expect(bench.filter((it) => it.question.includes(c)).length).toBe(12);
    // the right answer's place is spread over the four (seeded): chance is 25% whatever a model prefers
    const places = [0, 1, 2, 3].map((k) => bench.filter((it) => it.answer === k).length);
    expect(Math.min(...places)).toBeGreaterThanOrEqual(10);
  });

  it('no benchmark question is in the training text, verbatim or sharing a run of seven words', () => {
    const all = norm(training.join(' \n '));
    const seen = new Set(training.flatMap((t) => [...shingles(t, 7)]));
    let longest = 0;
    for (const it of bench) {
      expect(all.includes(norm(it.question)), it.question).toBe(false);
      for (const s of shingles(it.question, 7)) expect(seen.has(s), `${it.question}: "${s}"`).toBe(false);
      // the longest run shared with training, for the record
      for (let n = 6; n > longest; n--) if ([...shingles(it.question, n)].some((s) => training.some((t) => shingles(t, n).has(s)))) longest = n;
    }
    console.log(`longest run of words a benchmark question shares with the training text: ${longest}`);
  });

  it('the general stories are about other children, not Sunny Hill', () => {
    if (general.kind !== 'perplexity') throw new Error('general.jsonl is not text');
    for (const d of general.docs) {
      expect(d.text).not.toMatch(/Sunny Hill/);
      for (const c of CHILDREN) expect(d.text).not.toMatch(new RegExp(`\\b${c}\\b`));
    }
  });

  it("every row tokenises for its method with the demo model's tokenizer within the demo's row lengths", async () => {
    const tok = await loadTokenizer(dirModelFiles('public/demo/stories260K', 'stories260K'));
    const max = (seqs: { ids: readonly number[] }[]) => Math.max(...seqs.map((s) => s.ids.length));
    const cpt = rowsToSequences('cpt', corpus.rows, tok, 512, 'corpus.txt');
    const s = rowsToSequences('sft', sft.rows, tok, 512, 'sft.jsonl');
    const p = rowsToSequences('orpo', pref.rows, tok, 512, 'preference.jsonl');
    console.log(`longest rows in tokens: corpus ${max(cpt)}, sft ${max(s)}, preference ${max(p)}`);
    expect(max(cpt)).toBeLessThanOrEqual(104);
    expect(max(s)).toBeLessThanOrEqual(48);
    expect(max(p)).toBeLessThanOrEqual(48);
  });
});
