/**
 * (Placeholder types until the full-gradient pass lands: the helper's full-params.ts replaces this file.)
 */
export interface FullParamPart {
  name: string;
  row0: number;
  rows: number;
}
export interface FullParam {
  parts: FullParamPart[];
  rows: number;
  cols: number;
  n: number;
  weight: { buffer: GPUBuffer; dtype: 'f32' | 'bf16' | 'f16' };
  plusOne?: boolean;
  grad: GPUBuffer;
}
export interface FullParams {
  readonly params: readonly FullParam[];
  dispose(): void;
}
import type { Model } from '../model/weights.ts';
export declare function createFullParams(model: Model): FullParams;
