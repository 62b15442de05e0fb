// Which import a set of picked files makes (src/app/lib/import-files.ts): GGUF alone; llama2.c .bin with its
// tokenizer in either order; every wrong combination refused with a message that names the files.
import { describe, expect, it } from 'vitest';
import { planImport } from '../../src/app/lib/import-files.ts';

const f = (name: string) => new File([new Uint8Array(4)], name);

describe('planImport', () => {
  it('takes one GGUF, or a llama2.c model with its tok*.bin / .model', () => {
    const g = planImport([f('m.gguf')]);
    expect(g.ok && g.request.kind === 'gguf' && g.request.file.name).toBe('m.gguf');
    for (const tok of ['tok512.bin', 'tokenizer.model', 'tokenizer.bin']) {
      const p = planImport([f(tok), f('stories260K.bin')]);
      expect(p.ok && p.request.kind === 'llama2c' && [p.request.model.name, p.request.tokenizer?.name]).toEqual(['stories260K.bin', tok]);
      expect(p.ok && p.files).toEqual(['stories260K.bin', tok]);
    }
  });

  it('refuses what it cannot import, naming the files', () => {
    const msg = (names: string[]) => {
      const p = planImport(names.map(f));
      return p.ok ? 'ok' : p.message;
    };
    expect(msg([])).toMatch(/Pick a \.gguf/);
    expect(msg(['model.safetensors'])).toMatch(/model\.safetensors: not a checkpoint/);
    expect(msg(['a.gguf', 'tok512.bin'])).toMatch(/a\.gguf on its own/);
    expect(msg(['tok512.bin'])).toMatch(/tok512\.bin is a tokenizer/);
    expect(msg(['stories260K.bin'])).toMatch(/stories260K\.bin: a llama2\.c checkpoint carries no vocabulary/);
    expect(msg(['a.bin', 'b.bin', 'tok512.bin'])).toMatch(/One llama2\.c model at a time \(got a\.bin, b\.bin\)/);
    expect(msg(['a.bin', 'tok512.bin', 'tok.model'])).toMatch(/One tokenizer file/);
  });
});
