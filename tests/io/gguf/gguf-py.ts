// llama.cpp's own Python package (gguf-py: GGUFWriter/GGUFReader and gguf.quants, numpy (de)quantisers that
// llama.cpp's tests check against ggml) as an independent reference, run through Debian's /usr/bin/python3 with
// python3-numpy. It is found as Debian's python3-gguf where a release ships it, or as the gguf wheel at
// $ALLOY_GGUF_PY / /opt/pypi/files/gguf-*.whl (a pure-Python wheel imports straight from the zip). When none
// imports, the tests that need it are skipped with the reason.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';

function wheel(): string | null {
  const env = process.env.ALLOY_GGUF_PY;
  if (env) return env;
  const dir = '/opt/pypi/files';
  if (!existsSync(dir)) return null;
  const w = readdirSync(dir).filter((f) => /^gguf-[\d.]+-py3-none-any\.whl$/.test(f)).sort().pop();
  return w ? join(dir, w) : null;
}

function probe(): { env: NodeJS.ProcessEnv } | { skip: string } {
  if (!existsSync(PYTHON)) return { skip: `${PYTHON} is missing` };
  const w = wheel();
  const env = { ...process.env, ...(w ? { PYTHONPATH: w } : {}) };
  const r = spawnSync(PYTHON, ['-c', 'import numpy, gguf, gguf.quants; print(gguf.__file__)'], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    return { skip: `gguf-py does not import (${w ? `wheel ${w}` : 'no python3-gguf and no gguf wheel found'}): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  }
  return { env };
}

export const ggufPy = probe();
export const ggufPySkip = 'skip' in ggufPy ? ggufPy.skip : null;
if (ggufPySkip) console.warn(`gguf-py reference tests skipped: ${ggufPySkip}`);

/** Runs `script` with sys.argv[1] = `dir`; throws with its stderr when it fails. */
export function runPy(script: string, dir: string): string {
  if ('skip' in ggufPy) throw new Error(ggufPy.skip);
  const r = spawnSync(PYTHON, ['-c', script, dir], { env: ggufPy.env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`gguf-py script failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
