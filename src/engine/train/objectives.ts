/**
 * Training objectives as TRL defines them (REFERENCE-SEMANTICS.md §2), on the CPU in float64: one module per
 * objective under objectives/ (cpt, sft, dpo, ipo, orpo), registered by name in objectives/registry.ts, the shared
 * layout, options and helpers in objectives/common.ts. This module is their one import point.
 */
export * from './objectives/common.ts';
export { dpoSigmoid } from './objectives/dpo.ts';
export { ipoSquared } from './objectives/ipo.ts';
export { orpoOddsRatio } from './objectives/orpo.ts';
export {
  OBJECTIVES,
  METHODS,
  computeObjective,
  isMethod,
  isPaired,
  methodsFor,
  needsReference,
  objectiveOf,
  objectiveTargets,
  referenceLogps,
  takesParam,
  type Method,
} from './objectives/registry.ts';
