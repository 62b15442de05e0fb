// Resuming is caching the rebuilt source again, so the rebuilt source must map to the partial's entry id; and the
// chunk size policy decides how much a cancelled download keeps.
import { describe, expect, it } from 'vitest';
import { resumeSource } from '../../../src/io/cache/resume.ts';
import { chunkBytesFor } from '../../../src/io/cache/ingest.ts';
import { DEFAULT_CHUNK_BYTES } from '../../../src/io/cache/weight-cache.ts';
import { entryId, hubBase, hubKey, hubRevision, type HubSource } from '../../../src/io/sources.ts';

/** the fields ingest records for a hub source (see plan() in ingest.ts) */
function recorded(s: HubSource) {
  return {
    id: entryId(s),
    source: 'hub' as const,
    ...(hubKey(s) === 'hf' ? {} : { baseUrl: hubBase(s) }),
    repo: s.repo,
    revision: hubRevision(s),
  };
}

describe('resumeSource', () => {
  it.each<HubSource>([
    { kind: 'hub', repo: 'HuggingFaceTB/SmolLM2-135M' },
    { kind: 'hub', repo: 'o/m', revision: ' v1.0 ' },
    { kind: 'hub', repo: 'o/m', baseUrl: 'https://huggingface.co/' },
    { kind: 'hub', repo: 'o/m', baseUrl: 'http://127.0.0.1:8080/hub/', revision: 'refs/pr/1' },
  ])('rebuilds a source with the same entry id: %j', (s) => {
    const p = recorded({ ...s, token: 'hf_secret' });
    const back = resumeSource(p);
    expect(back).not.toBeNull();
    expect(entryId(back!)).toBe(p.id);
    expect(back).not.toHaveProperty('token');
  });

  it('passes a token given again, and refuses folders', () => {
    expect(resumeSource(recorded({ kind: 'hub', repo: 'o/m' }), ' hf_x ')).toMatchObject({ token: 'hf_x' });
    expect(resumeSource(recorded({ kind: 'hub', repo: 'o/m' }), '  ')).not.toHaveProperty('token');
    expect(resumeSource({ source: 'folder', repo: 'my-model', revision: 'local' })).toBeNull();
  });
});

describe('chunkBytesFor', () => {
  const files = (...sizes: number[]) => sizes.map((size, i) => ({ path: `f${i}`, size }));
  it('keeps at least 64 KiB, splits the largest file into at most 64 chunks, and caps at 16 MiB', () => {
    expect(chunkBytesFor([])).toBe(64 * 1024);
    expect(chunkBytesFor(files(700, 494_944))).toBe(64 * 1024);
    expect(chunkBytesFor(files(300_000_000))).toBe(8 * 1024 * 1024); // 36 chunks
    expect(chunkBytesFor(files(64 * 1024 * 1024))).toBe(1024 * 1024);
    expect(chunkBytesFor(files(5e9, 1000))).toBe(DEFAULT_CHUNK_BYTES);
    for (const size of [1, 65_537, 4_194_305, 123_456_789, 2 ** 30]) {
      const c = chunkBytesFor(files(size));
      expect(Math.ceil(size / c)).toBeLessThanOrEqual(64);
      expect(c & (c - 1)).toBe(0);
    }
  });
});
