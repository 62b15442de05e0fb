// Our tokenizer module uses the two packages transformers.js builds its tokenizers from; this test holds it to
// transformers.js itself (AutoTokenizer from local files, remote loading off) on every fixture repo, so the
// "same tokenization as transformers" claim is checked, not assumed.
import { beforeAll, describe, expect, it } from 'vitest';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { resolve } from 'node:path';
import { ensureFixtures, REPOS, OWNER } from '../../scripts/fixtures/index.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';

const ROOT = resolve('public/hub');
const SAMPLES = [
  'Spider silk is tougher than steel by weight.',
  '  Nacre: 95% aragonite tablets, 5% protein!\nCollagen fibrils ~ 1.5 nm.',
  'ünïcödé — 🧬 and tabs\t\there',
  '',
];
const CHAT = [
  { role: 'system', content: 'You are a materials scientist.' },
  { role: 'user', content: 'Why is nacre tough?' },
  { role: 'assistant', content: 'Brick-and-mortar tablets deflect cracks.' },
  { role: 'user', content: 'And bone?' },
];

beforeAll(async () => {
  await ensureFixtures(ROOT);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
});

const repos = REPOS.filter((r) => r.name !== 'tiny-llama-pickle');

describe('tokenizer matches transformers.js on the fixture repos', () => {
  for (const repo of repos) {
    it(repo.name, async () => {
      // An absolute path is not a hub model id, so transformers.js reads the directory itself.
      const dir = `${ROOT}/${OWNER}/${repo.name}/resolve/main`;
      const theirs = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
      const ours = await loadTokenizer(dirModelFiles(dir));
      for (const text of SAMPLES) {
        const want = theirs.encode(text);
        expect(ours.encode(text)).toEqual(want);
        if (want.length === 0) continue; // transformers.js refuses to decode an empty list
        expect(ours.decode(want)).toBe(theirs.decode(want));
        expect(ours.decode(want, { skipSpecialTokens: true })).toBe(theirs.decode(want, { skip_special_tokens: true }));
      }
      for (const addGenerationPrompt of [false, true]) {
        const want = theirs.apply_chat_template(CHAT, { tokenize: false, add_generation_prompt: addGenerationPrompt });
        expect(ours.applyChatTemplate(CHAT, { addGenerationPrompt })).toBe(want);
      }
    });
  }
});
