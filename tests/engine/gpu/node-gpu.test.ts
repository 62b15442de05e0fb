// The Node engine's Dawn flags: robustness off by default (Alloy's kernels keep their indices in bounds), on with
// ALLOY_ROBUSTNESS=on. Every GPU test runs with the default; the browser tier runs Chromium's (always robust).
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { dawnFlags, LAVAPIPE_ICD, SWIFTSHADER_ICD, vulkanIcd } from '../../../src/engine/gpu/node-gpu.ts';

describe('node-gpu dawnFlags', () => {
  it('disables robustness unless ALLOY_ROBUSTNESS=on; anything else is refused, naming the switch', () => {
    expect(dawnFlags(undefined)).toEqual(['enable-dawn-features=disable_robustness']);
    expect(dawnFlags('')).toEqual(['enable-dawn-features=disable_robustness']);
    expect(dawnFlags('off')).toEqual(['enable-dawn-features=disable_robustness']);
    expect(dawnFlags('on')).toEqual([]);
    expect(() => dawnFlags('yes')).toThrow(/ALLOY_ROBUSTNESS=yes: must be on or off/);
  });
});

describe('node-gpu vulkanIcd (ALLOY_VULKAN)', () => {
  it('picks the driver named, else VK_ICD_FILENAMES, else SwiftShader where installed', () => {
    expect(existsSync(SWIFTSHADER_ICD)).toBe(true); // the GPU tier's own driver (.ci/run installs chromium)
    expect(vulkanIcd({ ALLOY_VULKAN: 'swiftshader' })).toBe(SWIFTSHADER_ICD);
    expect(vulkanIcd({})).toBe(SWIFTSHADER_ICD);
    expect(vulkanIcd({ VK_ICD_FILENAMES: '/x/icd.json' })).toBe('/x/icd.json');
    expect(vulkanIcd({ ALLOY_VULKAN: 'swiftshader', VK_ICD_FILENAMES: '/x/icd.json' })).toBe(SWIFTSHADER_ICD);
    expect(vulkanIcd({ ALLOY_NO_SWIFTSHADER: '1' })).toBeUndefined();
    expect(() => vulkanIcd({ ALLOY_VULKAN: 'llvmpipe' })).toThrow(/ALLOY_VULKAN=llvmpipe: must be swiftshader or lavapipe/);
  });
  it('finds lavapipe where scripts/lavapipe.sh unpacked it, and says how to get it where not', () => {
    if (existsSync(LAVAPIPE_ICD)) expect(vulkanIcd({ ALLOY_VULKAN: 'lavapipe' })).toBe(resolve(LAVAPIPE_ICD));
    else expect(() => vulkanIcd({ ALLOY_VULKAN: 'lavapipe' })).toThrow(/run bash scripts\/lavapipe.sh/);
  });
});
