// Benchmarks the panel can run: the ones shipped with the studio (public/) and a file the user picks or
// drops. Files are parsed by the engine's own readers, so errors name the file and line.
import { AlloyError } from '../../common/errors.ts';
import { parseBenchmark } from '../../io/benchmarks/load.ts';
import type { BenchmarkSource } from './benchmark-session.svelte.ts';

export interface BuiltInBenchmark {
  id: string;
  name: string;
  file: string;
}

/** Shipped with the studio: the study's domain (for real models) and the demo's village (stories260K learns it). */
export const BUILT_IN_BENCHMARKS: BuiltInBenchmark[] = [
  { id: 'materials-bio-mc', name: 'Materials & biology (48 questions)', file: 'benchmarks/materials-bio-mc.jsonl' },
  { id: 'village-mc', name: 'Sunny Hill village (72 questions, the demo domain)', file: 'demo/village/benchmark.jsonl' },
];

/** A multiple-choice benchmark from a file's text (JSONL in the common shapes, or an MMLU subject CSV). */
export function parseBenchmarkFile(name: string, text: string, origin: BenchmarkSource['origin'] = 'file'): BenchmarkSource {
  const b = parseBenchmark(text, name);
  if (b.kind !== 'multiple-choice') {
    throw new AlloyError(`${name} is a ${b.kind === 'open' ? 'set of open questions' : 'perplexity text'}: the Benchmark panel scores multiple-choice items ({question, choices, answer} JSONL or an MMLU CSV).`, { file: name });
  }
  return { name, origin, format: b.format, items: b.items };
}

export async function fetchBuiltIn(b: BuiltInBenchmark, base: string): Promise<BenchmarkSource> {
  const res = await fetch(new URL(b.file, base));
  if (!res.ok) throw new AlloyError(`could not fetch ${b.file} (HTTP ${res.status})`, { file: b.file });
  const file = b.file.split('/').at(-1)!;
  return parseBenchmarkFile(file, await res.text(), 'built-in');
}
