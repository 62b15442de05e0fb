// The stored adapters a loaded model can chat with, as the Chat panel's picker lists them. Pure (no Svelte, no
// DOM): unit-tested in tests/app/adapter-choices.test.ts.
import type { TrainRunSummary } from '../../worker/train-api.ts';

export interface AdapterOption {
  /** the picker's value: run id and step */
  key: string;
  runId: string;
  step: number;
  text: string;
}

export const adapterOptionKey = (c: { runId: string; step?: number }) => `${c.runId}@${c.step ?? ''}`;

/**
 * Every checkpoint of every run (or imported adapter) made for `modelId`, newest checkpoint first within a run (it
 * is the one usually wanted); runs without a checkpoint yet are left out.
 */
export function adapterOptions(runs: readonly Pick<TrainRunSummary, 'id' | 'label' | 'modelId' | 'checkpoints' | 'imported'>[], modelId: string): AdapterOption[] {
  return runs
    .filter((r) => r.modelId === modelId)
    .flatMap((r) =>
      [...r.checkpoints].reverse().map((step, i) => ({
        key: adapterOptionKey({ runId: r.id, step }),
        runId: r.id,
        step,
        text: r.imported ? `${r.label} · imported` : `${r.label} · step ${step}${i === 0 ? ' (latest)' : ''}`,
      })),
    );
}
