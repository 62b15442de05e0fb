/**
 * Supervised fine-tuning as TRL's SFTTrainer: token-mean cross-entropy over the completion (every token of {text}
 * rows; only the answer of prompt/completion rows, TRL's completion_only_loss; only assistant turns with
 * assistant_only_loss), averaged over the step's scored tokens.
 */
import { completionTargets, tokenMeanNll, type Objective } from './common.ts';

export const sft: Objective<'sft'> = {
  name: 'sft',
  label: 'SFT',
  about: 'supervised fine-tuning on prompt/answer pairs (prompt/completion rows score the answer only)',
  source: 'TRL SFTTrainer',
  paired: false,
  rows: 'prompt-completion',
  perplexity: true,
  linearInLogp: true,
  params: [
    {
      key: 'assistantOnlyLoss',
      trl: 'SFTConfig.assistant_only_loss',
      help: '{messages} rows train on their assistant turns only (TRL default off: every token)',
    },
  ],
  targets: (seqs) => seqs.map(completionTargets),
  loss(seqs, logp, opts) {
    const { loss, weights } = tokenMeanNll(seqs.map(completionTargets), logp, opts.stepItems);
    return { loss, weights, metrics: {} };
  },
};
