// The worker's token counting for the Data panel (src/worker/dataset.ts), with the tiny fixture's own files and
// tokenizer: the counts are rowTokenCounts over the tolerant reader's good rows, progress reaches every row, a
// method the shape cannot train and a file with no known shape are refused, and a cancel stops it.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { countDatasetTokens, type DatasetDeps } from '../../src/worker/dataset.ts';
import { inspectDataset } from '../../src/io/datasets/inspect.ts';
import { rowTokenCounts } from '../../src/io/datasets/stats.ts';
import type { Progress } from '../../src/io/progress.ts';

const DIR = 'public/hub/alloy-fixtures/tiny-llama/resolve/main';
const files = dirModelFiles(DIR);
const tok = loadTokenizer(files);
const deps: DatasetDeps = { files: async () => files, tokenizer: () => tok };
const pref = readFileSync('public/demo/data/preference.jsonl', 'utf8');

describe('countDatasetTokens', () => {
  it('counts every good row as the method trains it, skipping the bad lines, with progress', async () => {
    const text = pref.replace(/\n/, '\nnot json\n'); // line 2 is broken, the rows move down one line
    const seen: Progress[] = [];
    const r = await countDatasetTokens(deps, { modelId: 'm', name: 'p.jsonl', text, method: 'orpo' }, undefined, (p) => seen.push(p));
    const insp = inspectDataset(text, 'p.jsonl');
    expect(insp.issues.map((i) => i.line)).toEqual([2]);
    const want = rowTokenCounts('orpo', insp.rows, await tok, 384, 'p.jsonl');
    expect(r).toEqual({ method: 'orpo', vocabSize: 384, rows: want.rows, issues: [], issueCount: 0 });
    expect(r.rows).toHaveLength(30);
    expect(r.rows[1]!.line).toBe(3);
    expect(seen.at(-1)).toMatchObject({ done: 30, total: 30, unit: 'items' });
  });

  it('refuses a method the shape cannot train and a file with no known shape', async () => {
    await expect(countDatasetTokens(deps, { modelId: 'm', name: 'p.jsonl', text: pref, method: 'cpt' })).rejects.toThrow(/Preference pairs rows train dpo or ipo or orpo, not cpt/);
    await expect(countDatasetTokens(deps, { modelId: 'm', name: 'x.jsonl', text: '{"a": 1}\n', method: 'sft' })).rejects.toThrow(/no row has a known shape/);
  });

  it('stops on cancel', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(countDatasetTokens(deps, { modelId: 'm', name: 'p.jsonl', text: pref, method: 'dpo' }, ac.signal)).rejects.toThrow(/cancelled/);
  });
});
