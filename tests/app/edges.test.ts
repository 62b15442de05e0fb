// The layers' edges (docs/ARCHITECTURE.md, "Edges"), checked from the sources' import statements:
// - src/app loads from src/engine only the modules listed in APP_ENGINE_MODULES (pure, DOM-free, GPU-free), and
//   nothing it loads reaches the GPU side (engine/gpu, ops, model: the kernel registry and every shader) or IndexedDB
//   (the worker opens every store; the UI asks through the boundary);
// - src/io and src/common import nothing from src/engine, src/worker or src/app; src/common imports nothing at all
//   outside itself.
// Type-only imports are erased by the compiler and load nothing, so they are not edges here.
// The built bundle is checked too: vite.config.ts refuses a main-thread chunk that contains WGSL.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

/** Engine modules the main thread may load (keep in step with docs/ARCHITECTURE.md, "Edges"). */
const APP_ENGINE_MODULES = [
  'eval/benchmark-run.ts',
  'eval/confidence.ts',
  'eval/multiple-choice.ts',
  'eval/synergy.ts',
  'kernel-bench/format.ts',
  'kernel-bench/models.ts',
  'kernel-family.ts',
  'kv-dtype.ts',
  'lora/targets.ts',
  'merge/config.ts',
  'merge/params.ts',
  'merge/registry.ts',
  'recipe/cluster-export.ts',
  'recipe/presets.ts',
  'recipe/spec.ts',
  'recipe/summary.ts',
  'train/defaults.ts',
  'train/schedule.ts',
  'train/settings.ts',
];

/** Where the GPU lives: nothing the main thread loads may reach these. */
const GPU_SIDE = ['engine/gpu/', 'engine/ops/', 'engine/model/', 'shaders/'];

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : /\.(ts|svelte)$/.test(name) ? [p] : [];
  });
}

interface Edge {
  spec: string;
  /** absolute path for a relative specifier, else the package name */
  target: string;
}

/** The module's value imports (static and dynamic, re-exports included); `import type` loads nothing. */
function valueImports(file: string): Edge[] {
  let text = readFileSync(file, 'utf8');
  if (file.endsWith('.svelte')) text = [...text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');
  const edges: Edge[] = [];
  const add = (spec: string) => edges.push({ spec, target: spec.startsWith('.') ? resolve(dirname(file), spec.replace(/\?.*$/, '')) : spec });
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:([^'";]*?)\s+from\s+)?['"]([^'"]+)['"]/gm)) {
    if (m[1]) continue;
    // `import { type A, type B } from …` loads nothing either
    const names = /^\s*\{([^}]*)\}\s*$/.exec(m[2] ?? '');
    if (names && names[1]!.split(',').every((s) => !s.trim() || s.trim().startsWith('type '))) continue;
    add(m[3]!);
  }
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) add(m[1]!);
  return edges;
}

/** Every module reachable from `start` through value imports inside src/ and shaders/, with the path that reached it. */
function closure(start: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue: [string, string[]][] = start.map((f) => [f, [rel(f)]]);
  while (queue.length) {
    const [f, path] = queue.shift()!;
    if (seen.has(f)) continue;
    seen.set(f, path);
    if (!/\.(ts|svelte)$/.test(f)) continue;
    for (const e of valueImports(f)) if (e.target.startsWith(ROOT)) queue.push([e.target, [...path, rel(e.target)]]);
  }
  return seen;
}

const rel = (p: string) => relative(ROOT, p).split('\\').join('/');

describe('layer edges', () => {
  const appFiles = filesUnder(join(SRC, 'app')).concat(join(SRC, 'main.ts'));

  it('src/app loads only the listed pure engine modules', () => {
    const used = new Set<string>();
    for (const f of appFiles) {
      for (const e of valueImports(f)) {
        const r = rel(e.target);
        if (!r.startsWith('src/engine/')) continue;
        used.add(r.slice('src/engine/'.length));
        expect(APP_ENGINE_MODULES, `${rel(f)} loads ${r}, which is not listed as main-thread safe`).toContain(r.slice('src/engine/'.length));
      }
    }
    // a stale entry would let a future import in unnoticed
    expect([...used].sort()).toEqual(APP_ENGINE_MODULES);
  });

  it('nothing the main thread loads reaches the GPU side, a shader or IndexedDB', () => {
    const reached = closure(appFiles);
    for (const [f, path] of reached) {
      const r = rel(f);
      for (const side of GPU_SIDE) expect(r.startsWith(`src/${side}`) || r.startsWith(side) ? path.join(' → ') : '').toBe('');
      expect(r.endsWith('.wgsl') ? path.join(' → ') : '').toBe('');
      if (/\.(ts|svelte)$/.test(f)) {
        const opensIdb = valueImports(f).some((e) => e.target === 'idb') || /\bindexedDB\./.test(readFileSync(f, 'utf8'));
        expect(opensIdb ? `${path.join(' → ')} opens IndexedDB on the main thread` : '').toBe('');
      }
    }
  });

  it('src/io and src/common import nothing from the engine, the worker or the app', () => {
    for (const layer of ['io', 'common']) {
      for (const f of filesUnder(join(SRC, layer))) {
        for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
          const r = rel(resolve(dirname(f), m[1]!));
          const bad = r.startsWith('src/engine/') || r.startsWith('src/worker/') || r.startsWith('src/app/') || (layer === 'common' && !r.startsWith('src/common/'));
          expect(bad ? `${rel(f)} imports ${r}` : '').toBe('');
        }
      }
    }
  });
});
