// The Merge panel's state that must outlive the panel (it is mounted only while its tab is shown): the parents and
// settings picked, and the three jobs it starts (the merge, the parents' distances, the t sweep) with their
// progress, Cancel and results. App-level, like the training session: switching tabs during a merge or a sweep
// keeps it running, and coming back shows its progress and its Cancel.
import type { CachedModelSummary } from '../../io/cache/weight-cache.ts';
import type { ParentDistances, SweepPoint } from '../../worker/api.ts';
import { DEFAULT_SWEEP, type MergeSettings } from './merge-settings.ts';
import { JobRunner } from './job-runner.svelte.ts';
import type { StudioClient } from './studio-client.svelte.ts';

export interface MergeChoice {
  a: string;
  b: string;
  baseIsA: boolean;
  settings: MergeSettings | null;
  /** a pasted config the controls cannot represent: merged verbatim */
  customYaml: string | null;
}

export interface SweepOptions {
  benchmark: string;
  tText: string;
  keep: boolean;
  metric: 'acc' | 'accNorm';
}

export class MergeSession {
  /** what the panel showed last (null: nothing picked yet, the panel picks defaults) */
  choice = $state<MergeChoice | null>(null);
  readonly merge: JobRunner;
  merged = $state<{ entry: CachedModelSummary; yaml: string | null } | null>(null);
  readonly distances: JobRunner;
  /** keyed by the two parents it was computed for */
  distance = $state.raw<{ key: string; value: ParentDistances } | null>(null);
  readonly sweep: JobRunner;
  sweepOptions = $state<SweepOptions>({ benchmark: 'materials-bio-mc', tText: DEFAULT_SWEEP.join(', '), keep: false, metric: 'acc' });
  sweepPoints = $state.raw<SweepPoint[]>([]);

  constructor(readonly client: StudioClient) {
    const cancel = (id: string) => client.cancelJob(id);
    this.merge = new JobRunner(cancel);
    this.distances = new JobRunner(cancel);
    this.sweep = new JobRunner(cancel);
  }

  /** Any of the panel's jobs is running (the parents and settings are then locked). */
  get busy(): boolean {
    return this.merge.busy || this.sweep.busy || this.distances.busy;
  }
}
