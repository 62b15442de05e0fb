/**
 * The two types training data is made of, shared by the engine (objectives, trainer) and io/ (dataset shapes, rows,
 * the dataset cache), which must not import the engine. Types only: each objective's loss is in common/objectives/ (registry.ts).
 */

/** A training objective as TRL names it; common/objectives/registry.ts registers exactly these. */
export type Method = 'cpt' | 'sft' | 'dpo' | 'ipo' | 'orpo';

export interface Sequence {
  ids: readonly number[];
  /** prompt tokens at the start of ids (0 when every token is scored, as for {text} rows) */
  promptLen: number;
  /**
   * 1 where token i may be scored, 0 where not (TRL's assistant_masks: SFT with assistant_only_loss marks the
   * assistant turns of a chat); absent: every token after the prompt. Same length as ids. Only SFT rows carry one
   * (rows.ts), so only the token-mean loss of completionTargets reads it.
   */
  lossMask?: Uint8Array;
}
