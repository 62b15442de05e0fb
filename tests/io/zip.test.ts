// The store-only zip writer: CRC-32 check value, a round trip through our reader, and Info-ZIP's `unzip -t` /
// Python's zipfile reading what we wrote (the tools people will open the adapter with). zipBlob (the Export panel's
// streaming writer over Blobs): same bytes as zipStore, zip64 records read back by our reader, unzip and Python.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as zlib from 'node:zlib';
import { crc32, crc32Blob, unzipStore, zipBlob, zipStore } from '../../src/io/zip.ts';

const enc = new TextEncoder();
const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
};

describe('zip', () => {
  it('crc32 of "123456789" is the standard check value 0xCBF43926', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it('round-trips entries (UTF-8 names, empty and binary data) and refuses duplicate names', () => {
    const bin = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31 + 7) & 255);
    const entries = [
      { name: 'adapter_config.json', data: enc.encode('{"r": 8}\n') },
      { name: 'adapter_model.safetensors', data: bin },
      { name: 'empty', data: new Uint8Array() },
      { name: 'größe.txt', data: enc.encode('ü') },
    ];
    const z = zipStore(entries, new Date(2026, 10, 29, 9, 30, 10));
    expect(unzipStore(z)).toEqual(entries);
    expect(() => zipStore([entries[0]!, entries[0]!])).toThrow(/given twice/);
  });

  // Info-ZIP and Python are not dependencies of the project: checked where the machine has them
  it.runIf(has('unzip') && has('python3'))('unzip -t and Python zipfile read it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alloy-zip-'));
    try {
      const path = join(dir, 'a.zip');
      writeFileSync(path, zipStore([
        { name: 'adapter_config.json', data: enc.encode('{"r": 8}\n') },
        { name: 'adapter_model.safetensors', data: Uint8Array.from({ length: 1000 }, (_, i) => i & 255) },
      ]));
      expect(execFileSync('unzip', ['-t', path], { encoding: 'utf8' })).toMatch(/No errors detected/);
      const py = 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(",".join(z.namelist()), len(z.read("adapter_model.safetensors")))';
      expect(execFileSync('python3', ['-c', py, path], { encoding: 'utf8' }).trim()).toBe('adapter_config.json,adapter_model.safetensors 1000');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const zlibCrc = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;

  it('crc32 (slicing-by-8, continued) equals Node zlib.crc32 on odd lengths', () => {
    const data = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 2654435761) >>> 24);
    const whole = crc32(data);
    expect(crc32(data.subarray(5000), crc32(data.subarray(0, 5000)))).toBe(whole);
    if (zlibCrc) {
      for (const n of [0, 1, 7, 8, 9, 63, 4097, data.length]) expect(crc32(data.subarray(0, n))).toBe(zlibCrc(data.subarray(0, n)));
    } else {
      expect(crc32(enc.encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
    }
  });

  const blobEntries = async (opts: { sliceBytes: number }) => {
    const files = [
      { name: 'config.json', data: enc.encode('{"model_type": "llama"}\n') },
      { name: 'model.safetensors', data: Uint8Array.from({ length: 70_001 }, (_, i) => (i * 131 + 3) & 255) },
      { name: 'sub/dir/empty.txt', data: new Uint8Array() },
    ];
    // a file's Blob made of several parts, as a cached file's chunk Blobs are
    const blobOf = (d: Uint8Array) => new Blob([d.slice(0, 1000), d.slice(1000, 40_000), d.slice(40_000)]);
    const entries = await Promise.all(files.map(async (f) => ({ name: f.name, data: blobOf(f.data), crc: await crc32Blob(blobOf(f.data), opts) })));
    return { files, entries };
  };

  it('zipBlob writes the same bytes as zipStore from Blob parts, and crc32Blob reads slice by slice', async () => {
    const { files, entries } = await blobEntries({ sliceBytes: 4096 });
    const when = new Date(2026, 10, 29, 9, 30, 10);
    const z = new Uint8Array(await zipBlob(entries, { modified: when }).arrayBuffer());
    expect(z).toEqual(zipStore(files, when));
    expect(unzipStore(z)).toEqual(files);
    expect(() => zipBlob([entries[0]!, entries[0]!])).toThrow(/given twice/);
    const aborted = new AbortController();
    aborted.abort();
    await expect(crc32Blob(entries[1]!.data, { signal: aborted.signal })).rejects.toThrow(/cancelled/);
  });

  it('zipBlob with zip64 records round-trips through our reader', async () => {
    const { files, entries } = await blobEntries({ sliceBytes: 1 << 20 });
    const z = new Uint8Array(await zipBlob(entries, { zip64: 'always' }).arrayBuffer());
    expect(unzipStore(z)).toEqual(files);
  });

  it.runIf(has('unzip') && has('python3'))('unzip -t and Python zipfile read zipBlob output, zip64 included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alloy-zip64-'));
    try {
      const { entries } = await blobEntries({ sliceBytes: 1 << 20 });
      for (const mode of ['auto', 'always'] as const) {
        const path = join(dir, `${mode}.zip`);
        writeFileSync(path, new Uint8Array(await zipBlob(entries, { zip64: mode }).arrayBuffer()));
        expect(execFileSync('unzip', ['-t', path], { encoding: 'utf8' })).toMatch(/No errors detected/);
        const py = 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(",".join(z.namelist()), len(z.read("model.safetensors")))';
        expect(execFileSync('python3', ['-c', py, path], { encoding: 'utf8' }).trim()).toBe('config.json,model.safetensors,sub/dir/empty.txt 70001');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
