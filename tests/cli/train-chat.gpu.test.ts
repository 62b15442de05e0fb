// `alloy train --method sft --assistant-only-loss` on tiny-llama (SwiftShader) with {messages} rows: step 1 (adapter
// B = 0, so the base model's loss) is the token-mean NLL over the assistant turns alone, as lossOnly gives it for the
// masked sequences, and not the every-token loss the same rows give without the flag; other methods refuse the flag.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { capture } from './capture.ts';
import { ensureFixtures, OWNER, REVISION } from '../../scripts/fixtures/index.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { parseJsonl, rowsToSequences } from '../../src/io/datasets/rows.ts';
import { lossOnly } from '../../src/engine/train/grad.ts';
import { gpuShared, loadFixture } from '../engine/model/model-fixtures.ts';

const MODEL = join('public/hub', OWNER, 'tiny-llama', 'resolve', REVISION);
const m = (role: string, content: string) => ({ role, content });
const ROWS = [
  { messages: [m('user', 'Why is bone tough?'), m('assistant', 'Collagen and mineral.'), m('user', 'And nacre?'), m('assistant', 'Bricks and mortar.')] },
  { messages: [m('system', 'Be brief.'), m('user', 'What is silk?'), m('assistant', 'A protein fibre.')] },
];
let tmp: string;
let data: string;

const firstLoss = (stdout: string) => Number(/^step 1 loss (\S+)/m.exec(stdout)![1]);

beforeAll(async () => {
  await ensureFixtures('public/hub');
  tmp = mkdtempSync(join(tmpdir(), 'alloy-train-chat-'));
  data = join(tmp, 'chat.jsonl');
  writeFileSync(data, ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const args = (method: string, out: string, extra: string[] = []) => [
  'train', '--model', MODEL, '--data', data, '--method', method, '--out', out, '--rank', '4', '--seed', '1', '--steps', '1', '--micro-batch', '2', ...extra,
];

describe('alloy train --assistant-only-loss', () => {
  it('SFT on {messages}: the loss covers the assistant turns only', async () => {
    const only = capture();
    expect(await main(args('sft', join(tmp, 'a'), ['--assistant-only-loss']), only)).toBe(0);
    expect(only.stdout).toMatch(/^training sft: 2 rows; .*loss on assistant turns only; /m);
    const every = capture();
    expect(await main(args('sft', join(tmp, 'b')), every)).toBe(0);

    const f = await loadFixture('tiny-llama');
    const tok = await loadTokenizer(dirModelFiles(MODEL));
    const rows = parseJsonl(readFileSync(data, 'utf8'), data);
    const masked = await lossOnly(f.model, null, 'sft', rowsToSequences('sft', rows, tok, tok.vocabSize, data, { assistantOnlyLoss: true }));
    const all = await lossOnly(f.model, null, 'sft', rowsToSequences('sft', rows, tok, tok.vocabSize, data));
    f.model.dispose();
    (await gpuShared()).pool.destroyAll();
    console.log(`sft step 1: --assistant-only-loss ${firstLoss(only.stdout)} (assistant tokens ${masked.loss}); without ${firstLoss(every.stdout)} (every token ${all.loss})`);
    expect(Math.abs(firstLoss(only.stdout) - masked.loss)).toBeLessThanOrEqual(1e-5 * masked.loss);
    expect(Math.abs(firstLoss(every.stdout) - all.loss)).toBeLessThanOrEqual(1e-5 * all.loss);
    expect(masked.tokens).toBeLessThan(all.tokens);
    expect(Math.abs(masked.loss - all.loss)).toBeGreaterThan(1e-3);
  }, 300_000);

  it('is refused for other methods before loading anything', async () => {
    const io = capture();
    expect(await main(args('cpt', join(tmp, 'never'), ['--assistant-only-loss']), io)).toBe(1);
    expect(io.stderr).toMatch(/--assistant-only-loss is an SFT option \(TRL's assistant_only_loss\); method cpt has no use for it/);
  });
});
