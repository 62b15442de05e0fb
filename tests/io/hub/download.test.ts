import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '../../../src/common/errors.ts';
import { IntegrityError, InterruptedError, downloadChunked, hubOpener, type ResumePoint } from '../../../src/io/hub/download.ts';
import { listHubRepo } from '../../../src/io/hub/listing.ts';
import type { FileEntry } from '../../../src/io/model-files.ts';
import { startHubServer, type HubServer } from '../../helpers/hub-server.ts';
import { singleRepo } from '../../helpers/hub-repos.ts';

const CHUNK = 32 * 1024;
let hub: HubServer;
let file: FileEntry;
let expected: Uint8Array;
const source = () => ({ kind: 'hub' as const, baseUrl: hub.url, repo: 'o/m' });

beforeAll(async () => {
  hub = await startHubServer({ repos: { 'o/m': singleRepo(300_000) } });
  expected = hub.repos['o/m']!.files['model.safetensors'] as Uint8Array;
  file = (await listHubRepo(source())).files.find((f) => f.path === 'model.safetensors')!;
});
afterAll(() => hub.close());
beforeEach(() => {
  hub.requests.length = 0;
  for (const k of Object.keys(hub.faults)) delete hub.faults[k as keyof typeof hub.faults];
});

/** An in-memory chunk store standing in for IndexedDB, recording what a resume would see. */
function store() {
  const chunks: Uint8Array[] = [];
  let resume: ResumePoint = { offset: 0 };
  let restarts = 0;
  let reported = 0;
  return {
    chunks,
    get resume() {
      return resume;
    },
    get restarts() {
      return restarts;
    },
    get reported() {
      return reported;
    },
    bytes: () => Buffer.concat(chunks),
    hooks: {
      onChunk: async (i: number, b: Uint8Array, end: number, hashState: Uint8Array, etag?: string) => {
        chunks[i] = b.slice();
        resume = { offset: end, hashState, ...(etag ? { etag } : {}) };
      },
      onRestart: async () => {
        restarts++;
        chunks.length = 0;
        resume = { offset: 0 };
      },
      onBytes: (n: number) => {
        expect(n).toBeGreaterThan(0);
        reported += n;
      },
    },
  };
}

const run = (s: ReturnType<typeof store>, extra: { retries?: number; signal?: AbortSignal } = {}) =>
  downloadChunked({ file, open: hubOpener(source(), file, undefined), chunkBytes: CHUNK, label: 'o/m@main', resume: s.resume, ...s.hooks, ...extra });

describe('downloadChunked', () => {
  it('streams a file into chunks and checks its sha256', async () => {
    const s = store();
    const sha = await run(s);
    expect(sha).toBe(file.sha256);
    expect(Buffer.compare(s.bytes(), expected)).toBe(0);
    expect(s.chunks.length).toBe(Math.ceil(expected.byteLength / CHUNK));
    expect(s.reported).toBe(expected.byteLength);
  });

  it('resumes a cut-off download from the last committed chunk with a Range request', async () => {
    const s = store();
    hub.faults.cutAfterBytes = { bytes: 100_000, path: 'model.safetensors' };
    await expect(run(s, { retries: 0 })).rejects.toBeInstanceOf(InterruptedError);
    const committed = s.resume.offset;
    expect(committed).toBe(Math.floor(100_000 / CHUNK) * CHUNK);
    const sha = await run(s);
    expect(sha).toBe(file.sha256);
    expect(Buffer.compare(s.bytes(), expected)).toBe(0);
    expect(hub.requests.filter((r) => r.range).map((r) => [r.range, r.status])).toEqual([[`bytes=${committed}-`, 206]]);
    // within one call progress never counts a byte twice; the second call restarts at the committed offset
    expect(s.reported).toBe(expected.byteLength + (100_000 - committed));
  });

  it('reconnects by itself after a dropped connection', async () => {
    const s = store();
    hub.faults.cutAfterBytes = { bytes: 70_000, path: 'model.safetensors' };
    await run(s);
    expect(Buffer.compare(s.bytes(), expected)).toBe(0);
    expect(hub.requests.some((r) => r.range === `bytes=${2 * CHUNK}-` && r.status === 206)).toBe(true);
  });

  it('restarts the file when the server ignores Range', async () => {
    const s = store();
    hub.faults.cutAfterBytes = { bytes: 100_000, path: 'model.safetensors' };
    await expect(run(s, { retries: 0 })).rejects.toThrow(/cut off after 98304 of \d+ bytes.*resume/);
    hub.faults.ignoreRange = true;
    await run(s);
    expect(s.restarts).toBe(1);
    expect(Buffer.compare(s.bytes(), expected)).toBe(0);
  });

  it('starts a file without sha256 over when its etag changed between attempts', async () => {
    const tok = { path: 'tokenizer.json', size: 100_000 };
    hub.repos['o/m']!.files['tokenizer.json'] = new Uint8Array(100_000).fill(1);
    const s = store();
    const go = (retries: number) =>
      downloadChunked({ file: tok, open: hubOpener(source(), tok, undefined), chunkBytes: CHUNK, label: 'o/m@main', resume: s.resume, ...s.hooks, retries });
    hub.faults.cutAfterBytes = { bytes: 50_000, path: 'tokenizer.json' };
    await expect(go(0)).rejects.toBeInstanceOf(InterruptedError);
    expect(s.resume.etag).toBeTruthy();
    const changed = new Uint8Array(100_000).fill(2);
    hub.repos['o/m']!.files['tokenizer.json'] = changed;
    await go(0);
    expect(s.restarts).toBe(1);
    expect(Buffer.compare(s.bytes(), changed)).toBe(0);
  });

  it('rejects a corrupt file, naming it', async () => {
    hub.faults.corrupt = 'model.safetensors';
    await expect(run(store())).rejects.toSatisfy(
      (e) => e instanceof IntegrityError && e.where.file === 'model.safetensors' && /sha256/.test(e.message),
    );
  });

  it('stops with CancelledError when aborted', async () => {
    hub.faults.delayMsPerPiece = 5;
    const ac = new AbortController();
    const s = store();
    const p = run(s, { signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(s.resume.offset).toBeLessThan(expected.byteLength);
  });
});
