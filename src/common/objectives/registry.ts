/**
 * The training objectives by name, as mergekit registers merge methods: the CLI's --method, the recipe's `method`,
 * the dataset checks and the panels all list from OBJECTIVES. Adding one is a module beside these and one line here.
 */
import type { Objective, ObjectiveOptions, ObjectiveResult, Sequence } from './common.ts';
import type { Method } from '../training-data.ts';
import { cpt } from './cpt.ts';
import { sft } from './sft.ts';
import { dpo } from './dpo.ts';
import { ipo } from './ipo.ts';
import { orpo } from './orpo.ts';

export const OBJECTIVES = { cpt, sft, dpo, ipo, orpo } as const satisfies Record<Method, Objective>;

/** The objectives' names: common/training-data.ts spells them for io/; this registry must have exactly those. */
export type { Method };

/** Every objective's name, in the order lists show them. */
export const METHODS = Object.keys(OBJECTIVES) as Method[];

export function isMethod(name: string): name is Method {
  return Object.hasOwn(OBJECTIVES, name);
}

export function objectiveOf(method: Method): Objective<Method> {
  const o = OBJECTIVES[method] as Objective<Method> | undefined;
  if (!o) throw new RangeError(`unknown training method "${method}" (known: ${METHODS.join(', ')})`);
  return o;
}

/** Whether `method` trains on chosen/rejected pairs (its unit is a pair, its batches [chosen…, rejected…]). */
export function isPaired(method: Method): boolean {
  return objectiveOf(method).paired;
}

/** Whether `method` compares against a reference model (a forward with the adapters off). */
export function needsReference(method: Method): boolean {
  return objectiveOf(method).reference !== undefined;
}

/** Whether `method`'s loss is linear in the log-probs (its weights w do not depend on them: CPT, SFT). */
export function isLinearInLogp(method: Method): boolean {
  return objectiveOf(method).linearInLogp === true;
}

/** Whether `method` has hyperparameter `key`. */
export function takesParam(method: Method, key: Objective['params'][number]['key']): boolean {
  return objectiveOf(method).params.some((p) => p.key === key);
}

/** The methods that take a row kind's data, e.g. every paired objective for preference rows. */
export function methodsFor(rows: 'text' | 'prompt-completion' | 'preference'): Method[] {
  return METHODS.filter((m) => {
    const r = objectiveOf(m).rows;
    // prompt/completion objectives (SFT) take plain text too, scoring every token
    return rows === 'text' ? r === 'text' || r === 'prompt-completion' : r === rows;
  });
}

/** The targets the model must gather log-probs for under `method`: the union of what the loss terms read. */
export function objectiveTargets(method: Method, seqs: readonly Sequence[]): Int32Array[] {
  return objectiveOf(method).targets(seqs);
}

/** The reference model's statistic per sequence (from its log-probs at objectiveTargets), for `refLogps`. */
export function referenceLogps(method: Method, seqs: readonly Sequence[], logp: readonly Float64Array[]): number[] {
  const ref = objectiveOf(method).reference;
  if (!ref) throw new RangeError(`${method} has no reference model`);
  return ref(seqs, logp);
}

/**
 * L and w = −dL/dlogp for `method` on a batch. `logp[s][t]` must hold the log-prob of objectiveTargets(method)
 * at every scored row (other rows are not read).
 */
export function computeObjective(method: Method, seqs: readonly Sequence[], logp: readonly Float64Array[], opts: ObjectiveOptions = {}): ObjectiveResult {
  const o = objectiveOf(method);
  if (!o.paired) return o.loss(seqs, logp, opts); // stepItems is the step's token count: applied inside the mean
  const P = seqs.length / 2;
  const r = o.loss(seqs, logp, opts);
  // One micro-batch of an accumulated step counts P of its stepItems pairs (TRL: the micro-batch mean / accum).
  const share = P / (opts.stepItems ?? P);
  if (share !== 1) {
    r.loss *= share;
    for (const w of r.weights) for (let t = 0; t < w.length; t++) w[t] = w[t]! * share;
  }
  return r;
}
