// The small IndexedDB stores the panels read and write (saved datasets, finished benchmark runs), opened here like
// every other store, so the page asks through the boundary and one owner holds each database open (a schema upgrade
// from another tab is then blocked by one connection, not by one per panel).
import { DatasetStore, type NewStoredDataset, type StoredDatasetSummary } from '../io/cache/datasets.ts';
import { RunStore } from '../io/cache/benchmark-runs.ts';
import type { BenchmarkRun, RunSummary } from '../common/benchmark-run.ts';
import { summarizeRun } from '../engine/eval/benchmark-run.ts';

/** Opens a store once; a failed open is forgotten, so the next call tries again. */
function lazily<S>(open: () => Promise<S>): () => Promise<S> {
  let p: Promise<S> | null = null;
  return () =>
    (p ??= open().catch((e: unknown) => {
      p = null;
      throw e;
    }));
}

const datasetStore = lazily(() => DatasetStore.open());
const runStore = lazily(() => RunStore.open());

export const datasets = {
  list: async (): Promise<StoredDatasetSummary[]> => (await datasetStore()).list(),
  save: async (meta: NewStoredDataset, text: string): Promise<StoredDatasetSummary> => (await datasetStore()).save(meta, text),
  get: async (id: string): Promise<{ summary: StoredDatasetSummary; text: string } | null> => (await datasetStore()).get(id),
  delete: async (id: string): Promise<void> => (await datasetStore()).delete(id),
};

export const benchmarkRuns = {
  list: async (): Promise<RunSummary[]> => (await runStore()).list(),
  /** The summary is computed here, beside the store, so the list always matches the run. */
  save: async (run: BenchmarkRun): Promise<RunSummary> => (await runStore()).save(run, summarizeRun(run)),
  get: async (id: string): Promise<BenchmarkRun | null> => (await runStore()).get(id),
  delete: async (id: string): Promise<void> => (await runStore()).delete(id),
};
