/**
 * Where a recipe's outputs go. The runner asks for one writer per output (a stage's adapter, each folded model, the
 * merge), writes its files through openSink, and commits it to get the files back as ModelFiles for the next
 * step. Node writes directories (src/cli/recipe.ts), the worker writes cache entries (src/worker/recipe.ts), tests
 * keep everything in memory (memoryVariantStore).
 */
import type { ByteSink } from '../../io/bytes.ts';
import { AlloyError } from '../../common/errors.ts';
import { memoryModelFiles, type ModelFiles } from '../../io/model-files.ts';
import type { Recipe } from './spec.ts';
import type { VariantKind } from './summary.ts';

export interface VariantInfo {
  id: string;
  label: string;
  kind: VariantKind;
  /** output folder name ("" for the original model, which is not written) */
  name: string;
  /** the ids of the variants it was made from: a stage's model from the one before, a merge from the original and the last stage's model */
  parents: string[];
  /** a t-sweep merge's scalar t (the recipe's own merge, with its t setting, has none) */
  t?: number;
}

/** A t-sweep point's id, e.g. "SLERP-t0.25". */
export const sweepId = (t: number): string => `SLERP-t${t}`;

/** The variants a recipe produces, in order: original, after each stage, merged, then the t-sweep's merges. */
export function recipeVariants(recipe: Recipe, baseLabel: string): VariantInfo[] {
  const out: VariantInfo[] = [{ id: 'base', label: baseLabel, kind: 'base', name: '', parents: [] }];
  const chain: string[] = [];
  for (const s of recipe.stages) {
    const parent = out.at(-1)!.id;
    chain.push(s.name);
    out.push({ id: s.name, label: `${baseLabel}-${chain.join('-')}`, kind: 'stage', name: chain.join('-'), parents: [parent] });
  }
  if (recipe.merge) {
    const last = out.at(-1)!;
    const parents = ['base', last.id];
    out.push({ id: 'SLERP', label: `${last.label}-SLERP`, kind: 'merge', name: `${chain.join('-')}-SLERP`, parents });
    for (const t of recipe.merge.sweep) out.push({ id: sweepId(t), label: `${last.label}-${sweepId(t)}`, kind: 'merge', name: `${chain.join('-')}-${sweepId(t)}`, parents, t });
  }
  return out;
}

export type OutputKind = 'model' | 'adapter';

export interface OutputSpec {
  kind: OutputKind;
  /** a folder-safe name, unique within the run, e.g. "CPT-SFT" or "adapters/CPT" */
  name: string;
  /** what users read, e.g. "stories260K-CPT-SFT" */
  label: string;
}

export interface OutputWriter {
  openSink(fileName: string): Promise<ByteSink>;
  /** every sink closed: the output becomes readable (and, in a cache, visible) */
  commit(): Promise<ModelFiles>;
  /** drop what was written; safe after a failed or cancelled write */
  abort(): Promise<void>;
}

export interface VariantStore {
  create(spec: OutputSpec): Promise<OutputWriter>;
}

/** Bytes of one file being written in memory. */
class MemorySink implements ByteSink {
  private parts: Uint8Array[] = [];
  bytes: Uint8Array | null = null;
  async write(chunk: Uint8Array): Promise<void> {
    this.parts.push(chunk.slice());
  }
  async close(): Promise<void> {
    const n = this.parts.reduce((s, p) => s + p.byteLength, 0);
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    this.bytes = out;
    this.parts = [];
  }
}

/** Outputs held in memory as ModelFiles (tests; small models). `outputs` lists what was committed. */
export function memoryVariantStore(): VariantStore & { outputs: Map<string, ModelFiles> } {
  const outputs = new Map<string, ModelFiles>();
  return {
    outputs,
    async create(spec) {
      const sinks = new Map<string, MemorySink>();
      return {
        async openSink(fileName) {
          if (sinks.has(fileName)) throw new AlloyError(`${spec.label}: ${fileName} written twice`, { file: fileName });
          const s = new MemorySink();
          sinks.set(fileName, s);
          return s;
        },
        async commit() {
          const record: Record<string, Uint8Array> = {};
          for (const [name, s] of sinks) {
            if (!s.bytes) throw new AlloyError(`${spec.label}: ${name} not closed before commit`, { file: name });
            record[name] = s.bytes;
          }
          const files = memoryModelFiles(record, spec.label);
          outputs.set(spec.name, files);
          return files;
        },
        async abort() {
          sinks.clear();
        },
      };
    },
  };
}

/** Writes one output with `write`, committing on success and aborting on any failure (cancel included). */
export async function writeOutput(store: VariantStore, spec: OutputSpec, write: (openSink: (name: string) => Promise<ByteSink>) => Promise<void>): Promise<ModelFiles> {
  const w = await store.create(spec);
  try {
    await write((name) => w.openSink(name));
    return await w.commit();
  } catch (e) {
    await w.abort().catch(() => undefined);
    throw e;
  }
}
