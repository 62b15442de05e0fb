// The Node engine's Dawn flags: robustness off by default (Alloy's kernels keep their indices in bounds), on with
// ALLOY_ROBUSTNESS=on. Every GPU test runs with the default; the browser tier runs Chromium's (always robust).
import { describe, expect, it } from 'vitest';
import { dawnFlags } from '../../../src/engine/gpu/node-gpu.ts';

describe('node-gpu dawnFlags', () => {
  it('disables robustness unless ALLOY_ROBUSTNESS=on; anything else is refused, naming the switch', () => {
    expect(dawnFlags(undefined)).toEqual(['enable-dawn-features=disable_robustness']);
    expect(dawnFlags('')).toEqual(['enable-dawn-features=disable_robustness']);
    expect(dawnFlags('off')).toEqual(['enable-dawn-features=disable_robustness']);
    expect(dawnFlags('on')).toEqual([]);
    expect(() => dawnFlags('yes')).toThrow(/ALLOY_ROBUSTNESS=yes: must be on or off/);
  });
});
