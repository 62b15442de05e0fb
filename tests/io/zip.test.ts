// The store-only zip writer: CRC-32 check value, a round trip through our reader, and Info-ZIP's `unzip -t` /
// Python's zipfile reading what we wrote (the tools people will open the adapter with).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32, unzipStore, zipStore } from '../../src/io/zip.ts';

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
});
