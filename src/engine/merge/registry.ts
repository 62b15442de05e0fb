/**
 * Merge methods by their mergekit name. Each lives in its own module under methods/; adding one is adding a
 * module and a line here.
 */
import { AlloyError } from '../../common/errors.ts';
import { linearMethod } from './methods/linear.ts';
import { slerpMethod } from './methods/slerp.ts';
import {
  breadcrumbsMethod,
  breadcrumbsTiesMethod,
  dareLinearMethod,
  dareTiesMethod,
  taskArithmeticMethod,
  tiesMethod,
} from './methods/task-arithmetic.ts';
import type { MergeMethod } from './methods/types.ts';

const METHODS = new Map<string, MergeMethod>(
  [slerpMethod, linearMethod, taskArithmeticMethod, tiesMethod, dareTiesMethod, dareLinearMethod, breadcrumbsMethod, breadcrumbsTiesMethod].map(
    (m) => [m.name, m],
  ),
);

export function methodNames(): string[] {
  return [...METHODS.keys()];
}

export function getMethod(name: string): MergeMethod {
  const m = METHODS.get(name);
  if (!m) {
    throw new AlloyError(`merge_method "${name}" is not supported; Alloy has ${methodNames().join(', ')}`, { field: 'merge_method' });
  }
  return m;
}

export type { MergeMethod, ParamSpec, ParamScalar, TensorMergeInput } from './methods/types.ts';
