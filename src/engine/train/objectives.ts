/**
 * Training objectives as TRL defines them (REFERENCE-SEMANTICS.md §2), on the CPU in float64: one module per
 * objective under common/objectives/ (pure CPU code that io/ reads too) (cpt, sft, dpo, ipo, orpo), registered by name in objectives/registry.ts, the shared
 * layout, options and helpers in objectives/common.ts. This module is their one import point.
 */
export * from '../../common/objectives/common.ts';
export { dpoSigmoid } from '../../common/objectives/dpo.ts';
export { ipoSquared } from '../../common/objectives/ipo.ts';
export { orpoOddsRatio } from '../../common/objectives/orpo.ts';
export {
  OBJECTIVES,
  METHODS,
  computeObjective,
  isLinearInLogp,
  isMethod,
  isPaired,
  methodsFor,
  needsReference,
  objectiveOf,
  objectiveTargets,
  referenceLogps,
  takesParam,
  type Method,
} from '../../common/objectives/registry.ts';
