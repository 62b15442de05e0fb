import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHubRepo, parseListing } from '../../../src/io/hub/listing.ts';
import { folderModelFiles, folderPlan } from '../../../src/io/folder.ts';
import { readText } from '../../../src/io/model-files.ts';
import { startHubServer, sha256Hex, type HubServer } from '../../helpers/hub-server.ts';
import { noConfigRepo, pickleRepo, shardedRepo, singleRepo } from '../../helpers/hub-repos.ts';

let hub: HubServer;
beforeAll(async () => {
  hub = await startHubServer({
    token: 'hf_secret',
    repos: {
      'o/single': singleRepo(),
      'o/sharded': shardedRepo(),
      'o/pickle': pickleRepo(),
      'o/noconfig': noConfigRepo(),
      'o/static': { ...singleRepo(), listing: 'none' },
      'o/static-sharded': { ...shardedRepo(), listing: 'none' },
      'o/gated': { ...singleRepo(), gated: true },
      'o/missing-shard': (() => {
        const r = shardedRepo();
        delete r.files['model-00002-of-00002.safetensors'];
        return r;
      })(),
    },
  });
});
afterAll(() => hub.close());

const src = (repo: string, token?: string) => ({ kind: 'hub' as const, baseUrl: hub.url, repo, ...(token ? { token } : {}) });

describe('parseListing', () => {
  it('reads siblings, sizes and LFS sha256', () => {
    const sha = 'a'.repeat(64);
    expect(
      parseListing({ id: 'o/n', sha: 'c0ffee', siblings: [{ rfilename: 'config.json', size: 3 }, { rfilename: 'model.safetensors', lfs: { sha256: sha, size: 9 } }] }),
    ).toEqual({ commit: 'c0ffee', entries: [{ path: 'config.json', size: 3 }, { path: 'model.safetensors', size: 9, sha256: sha }] });
    expect(parseListing('<html>')).toBeNull();
    expect(parseListing({ error: 'x' })).toBeNull();
  });
});

describe('listHubRepo', () => {
  it('keeps only what the model needs (no README, onnx or pickle) with sizes and sha256', async () => {
    const l = await listHubRepo(src('o/single'));
    expect(l.via).toBe('api');
    expect(l.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(l.files.map((f) => f.path)).toEqual(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']);
    const w = l.files.find((f) => f.path === 'model.safetensors')!;
    const bytes = hub.repos['o/single']!.files['model.safetensors'] as Uint8Array;
    expect(w.size).toBe(bytes.byteLength);
    expect(w.sha256).toBe(sha256Hex(bytes));
  });

  it('follows model.safetensors.index.json to its shards', async () => {
    const l = await listHubRepo(src('o/sharded'));
    expect(l.files.map((f) => f.path)).toEqual([
      'config.json',
      'model.safetensors.index.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
  });

  it('falls back to HEAD probes when the server has no API listing', async () => {
    const l = await listHubRepo(src('o/static'));
    expect(l.via).toBe('probe');
    expect(l.files.map((f) => f.path)).toEqual(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']);
    expect(l.files.every((f) => f.size > 0)).toBe(true);
    expect(hub.requests.some((r) => r.method === 'HEAD' && r.path.endsWith('/o/static/resolve/main/model.safetensors'))).toBe(true);
    const s = await listHubRepo(src('o/static-sharded'));
    expect(s.files.map((f) => f.path)).toContain('model-00002-of-00002.safetensors');
  });

  it('refuses pickle-only repos with an explanation', async () => {
    await expect(listHubRepo(src('o/pickle'))).rejects.toThrow(/pytorch_model\.bin.*no safetensors.*arbitrary code/s);
  });

  it('names the repo and the missing config.json / shard', async () => {
    await expect(listHubRepo(src('o/noconfig'))).rejects.toMatchObject({ message: expect.stringMatching(/o\/noconfig.*config\.json/), where: { file: 'config.json' } });
    await expect(listHubRepo(src('o/missing-shard'))).rejects.toMatchObject({ where: { file: 'model-00002-of-00002.safetensors' } });
    await expect(listHubRepo(src('o/does-not-exist'))).rejects.toThrow(/o\/does-not-exist@main.*config\.json/);
  });

  it('explains gated repos and sends the token only as a bearer header', async () => {
    await expect(listHubRepo(src('o/gated'))).rejects.toThrow(/gated or private.*accept the licence.*access token/);
    await expect(listHubRepo(src('o/gated', 'wrong'))).rejects.toThrow(/token given was refused/);
    const l = await listHubRepo(src('o/gated', 'hf_secret'));
    expect(l.files.length).toBe(5);
    expect(hub.requests.filter((r) => r.path.includes('o/gated') && r.auth).every((r) => r.auth?.startsWith('Bearer '))).toBe(true);
  });

  it('refuses a malformed repo id before any request', async () => {
    await expect(listHubRepo(src('https://huggingface.co/o/n'))).rejects.toThrow(/not a repo id/);
  });
});

describe('local folders', () => {
  const file = (rel: string, content: string | Uint8Array) => {
    const f = new File([content as BlobPart], rel.split('/').pop()!, { lastModified: 5 });
    Object.defineProperty(f, 'webkitRelativePath', { value: rel });
    return f;
  };
  it('reads a picked folder in place, skipping what the model does not need', async () => {
    const repo = singleRepo(1000);
    const files = Object.entries(repo.files).map(([p, v]) => file(`my-model/${p}`, v));
    const m = folderModelFiles({ kind: 'folder', name: 'my-model', files });
    expect(m.files.map((f) => f.path)).not.toContain('README.md');
    expect(m.files.map((f) => f.path)).toContain('model.safetensors');
    expect(await readText(m, 'config.json')).toContain('LlamaForCausalLM');
    const plan = await folderPlan({ kind: 'folder', name: 'my-model', files });
    expect(plan.files.map((f) => f.path)).toEqual(m.files.map((f) => f.path));
  });

  it('refuses a folder without config.json, and a pickle-only folder', async () => {
    const noConfig = [file('m/model.safetensors', 'x')];
    expect(() => folderModelFiles({ kind: 'folder', name: 'm', files: noConfig })).toThrow(/folder m has no config\.json/);
    await expect(folderPlan({ kind: 'folder', name: 'm', files: noConfig })).rejects.toMatchObject({ where: { file: 'config.json' } });
    const pickles = [file('m/config.json', '{}'), file('m/pytorch_model.bin', 'x')];
    expect(() => folderModelFiles({ kind: 'folder', name: 'm', files: pickles })).toThrow(/only loads safetensors/);
    expect(() => folderModelFiles({ kind: 'folder', name: 'm', files: [] })).toThrow(/empty/);
    const flattened = [new File(['{}'], 'config.json'), new File(['{}'], 'config.json'), new File(['x'], 'model.safetensors')];
    expect(() => folderModelFiles({ kind: 'folder', name: 'm', files: flattened })).toThrow(/more than one config\.json/);
  });
});

describe('probing a single-page-app host', () => {
  it('treats an HTML fallback page as a missing file, not as model.safetensors.index.json', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { serveStatic } = await import('../../helpers/static-server.ts');
    const root = mkdtempSync(join(tmpdir(), 'alloy-spa-'));
    const dir = join(root, 'org', 'm', 'resolve', 'main');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>');
    writeFileSync(join(dir, 'config.json'), '{}');
    writeFileSync(join(dir, 'model.safetensors'), new Uint8Array(24));
    const server = await serveStatic(root); // unknown paths fall back to index.html, like Vite's dev server
    try {
      const listing = await listHubRepo({ kind: 'hub', baseUrl: server.url, repo: 'org/m' });
      expect(listing.via).toBe('probe');
      expect(listing.files.map((f) => f.path).sort()).toEqual(['config.json', 'model.safetensors']);
    } finally {
      await server.close();
    }
  });
});
