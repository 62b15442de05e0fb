// The committed demo model (public/demo/stories260K) must be exactly what the importer makes from the shared
// stories260K files today, so it cannot drift from the code; and the fixtures script must publish it unchanged in
// the hub layout the studio loads from.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA, DEMO_DIR, DEMO_REPO_ID, writeDemoModel } from '../../scripts/demo/stories260k.ts';
import { writeDemoRepo } from '../../scripts/fixtures/demo-repo.ts';
import { listFiles } from '../../scripts/fixtures/hub-layout.ts';
import { parseModelConfig } from '../../src/io/config.ts';
import { readJson } from '../../src/io/model-files.ts';
import { dirModelFiles } from '../../src/io/node/dir-model-files.ts';
import { loadTokenizer } from '../../src/io/tokenizer.ts';

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'alloy-demo-'));
  temps.push(d);
  return d;
}
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

const FILES = ['README.md', 'config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];

describe('demo model public/demo/stories260K', () => {
  it('equals a fresh import of ../shared/data/models/stories260K, byte for byte', async () => {
    for (const f of ['stories260K.bin', 'tok512.model']) {
      if (!existsSync(join(DEFAULT_DATA, f))) throw new Error(`missing shared test data ${join(DEFAULT_DATA, f)} (see ../shared/data/README.md)`);
    }
    const fresh = join(await tempDir(), 'stories260K');
    expect(await writeDemoModel(DEFAULT_DATA, fresh)).toEqual(FILES);
    expect(await listFiles(DEMO_DIR)).toEqual(FILES);
    for (const f of FILES) {
      expect(readFileSync(join(DEMO_DIR, f)).equals(readFileSync(join(fresh, f))), `${f} differs: run \`npm run demo-model\``).toBe(true);
    }
    // The card names the source it was made from.
    const sha = createHash('sha256').update(readFileSync(join(DEFAULT_DATA, 'stories260K.bin'))).digest('hex');
    expect(readFileSync(join(DEMO_DIR, 'README.md'), 'utf8')).toContain(sha);
  });

  it('is published into the hub layout with a listing, and loads as a model with its tokenizer', async () => {
    const root = await tempDir();
    const { id, files } = await writeDemoRepo(root, 'main');
    expect(id).toBe(DEMO_REPO_ID);
    const dir = join(root, DEMO_REPO_ID, 'resolve', 'main');
    expect(await listFiles(dir)).toEqual(FILES);
    for (const f of FILES) expect(readFileSync(join(dir, f)).equals(readFileSync(join(DEMO_DIR, f))), f).toBe(true);
    const listing = JSON.parse(readFileSync(join(root, 'api', 'models', DEMO_REPO_ID, 'revision', 'main'), 'utf8'));
    expect(listing.siblings.map((s: { rfilename: string }) => s.rfilename)).toEqual(FILES);
    expect(files.find((f) => f.path === 'model.safetensors')?.size).toBe(readFileSync(join(DEMO_DIR, 'model.safetensors')).byteLength);

    const m = dirModelFiles(dir);
    const config = parseModelConfig(await readJson(m, 'config.json'));
    expect(config).toMatchObject({ vocabSize: 512, numLayers: 5, hiddenSize: 64, tieWordEmbeddings: true });
    const tok = await loadTokenizer(m);
    expect(tok.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
    expect(tok.hasChatTemplate).toBe(false);
  });
});
