/**
 * Continued pretraining: causal-LM cross-entropy on every token of raw text (TRL SFTTrainer on {text} rows;
 * transformers' Trainer with DataCollatorForLanguageModeling), averaged over the step's tokens.
 */
import { allTargets, tokenMeanNll, type Objective } from './common.ts';

export const cpt: Objective<'cpt'> = {
  name: 'cpt',
  label: 'CPT',
  about: 'continued pretraining on raw text: every token scored',
  source: 'transformers Trainer, causal LM loss (num_items_in_batch)',
  paired: false,
  rows: 'text',
  perplexity: true,
  linearInLogp: true,
  params: [],
  targets: (seqs) => seqs.map(allTargets),
  loss(seqs, logp, opts) {
    const { loss, weights } = tokenMeanNll(seqs.map(allTargets), logp, opts.stepItems);
    return { loss, weights, metrics: {} };
  },
};
