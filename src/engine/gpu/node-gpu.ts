/**
 * WebGPU in Node through Dawn (the `webgpu` package). Only the CLI, benches and tests import this module.
 * On a machine without a GPU, Dawn needs a Vulkan driver: SwiftShader's, which Debian's chromium ships.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { create, globals } from 'webgpu';
import { AlloyError } from '../../common/errors.ts';
import { acquireDevice } from './device.ts';
import { parseKernelFamily, parseSubgroups } from '../kernel-family.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
/** Mesa 25's lavapipe, unpacked by scripts/lavapipe.sh (relative to the repository root, where Node runs) */
export const LAVAPIPE_ICD = 'node_modules/.cache/alloy-lavapipe/lvp_icd.json';

/**
 * The Vulkan driver Dawn should load, from ALLOY_VULKAN: 'swiftshader' (Chromium's; the default on a machine
 * without a GPU), 'lavapipe' (Mesa's, for shader-f16, 8-wide subgroups and a browser-sized binding limit), or
 * unset: VK_ICD_FILENAMES if set, else SwiftShader where it is installed, else the loader's own search (a GPU).
 */
export function vulkanIcd(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const want = env.ALLOY_VULKAN;
  if (want === 'lavapipe') {
    const icd = resolve(LAVAPIPE_ICD);
    if (!existsSync(icd)) throw new AlloyError(`ALLOY_VULKAN=lavapipe: ${LAVAPIPE_ICD} is missing; run bash scripts/lavapipe.sh (from the repository root) first`);
    return icd;
  }
  if (want === 'swiftshader') {
    if (!existsSync(SWIFTSHADER_ICD)) throw new AlloyError(`ALLOY_VULKAN=swiftshader: ${SWIFTSHADER_ICD} is missing (apt-get install -y chromium)`);
    return SWIFTSHADER_ICD;
  }
  if (want !== undefined && want !== '') throw new AlloyError(`ALLOY_VULKAN=${want}: must be swiftshader or lavapipe`);
  if (env.VK_ICD_FILENAMES) return env.VK_ICD_FILENAMES;
  return existsSync(SWIFTSHADER_ICD) && !env.ALLOY_NO_SWIFTSHADER ? SWIFTSHADER_ICD : undefined;
}

// Kept for the life of the process: if the GPU object is garbage-collected, Dawn tears down its instance
// under any live device and the process crashes or hangs (seen as a glibc futex abort).
let instance: GPU | undefined;

export async function nodeGpu(): Promise<GPU> {
  if (instance) return instance;
  // The Vulkan loader reads this when Dawn creates its instance, so it must be set before create().
  const icd = vulkanIcd();
  if (icd) process.env.VK_ICD_FILENAMES = icd;
  // SwiftShader's WSI code complains on stderr at every device when this is unset (common in CI and
  // containers); a private 0700 directory satisfies it.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'alloy-xdg-'));
  // The engine uses GPUBufferUsage and friends as globals, as in a browser.
  Object.assign(globalThis, globals);
  instance = create(dawnFlags(process.env.ALLOY_ROBUSTNESS)) as GPU;
  return instance;
}

/**
 * Dawn's instance flags for the Node engine. Robustness (Tint clamping every storage index, and Vulkan's
 * robustBufferAccess) is off: Alloy runs only its own kernels here, which keep every index in bounds themselves
 * (edge rows and queries are clamped explicitly, grids are bounds-checked, and every kernel is tested against a
 * CPU reference), and on SwiftShader the clamps cost about a quarter of a forward pass (a 5-shot MMLU item:
 * 0.39 → 0.29 s). Browsers always keep robustness on, so the studio is unchanged. ALLOY_ROBUSTNESS=on restores
 * it, e.g. to rule it out when a kernel misbehaves.
 */
export function dawnFlags(robustness: string | undefined): string[] {
  if (robustness === 'on') return [];
  if (robustness === undefined || robustness === '' || robustness === 'off') return ['enable-dawn-features=disable_robustness'];
  throw new AlloyError(`ALLOY_ROBUSTNESS=${robustness}: must be on or off`);
}

/** Explains how to get an adapter on this machine; used when requestAdapter() gives nothing. */
export function missingAdapterHelp(): string {
  return [
    'No WebGPU adapter in Node.',
    'On a machine without a GPU install the Vulkan loader and SwiftShader: apt-get install -y chromium libvulkan1',
    `(then VK_ICD_FILENAMES=${SWIFTSHADER_ICD} is used automatically).`,
    existsSync(SWIFTSHADER_ICD) ? '' : `${SWIFTSHADER_ICD} is missing.`,
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * The device for the CLI, benches and tests. ALLOY_KERNELS=software|hardware forces a kernel family on any
 * adapter (e.g. the hardware family's kernels on SwiftShader, to test them); unset, the adapter decides.
 * ALLOY_SUBGROUPS=off keeps the kernels that have a subgroup variant in core WGSL (=on requires the feature).
 */
export async function acquireNodeDevice() {
  const gpu = await nodeGpu();
  const kernels = parseKernelFamily(process.env.ALLOY_KERNELS, 'ALLOY_KERNELS');
  const subgroups = parseSubgroups(process.env.ALLOY_SUBGROUPS, 'ALLOY_SUBGROUPS');
  try {
    return await acquireDevice({ gpu, kernels, subgroups });
  } catch (e) {
    // a refusal with an adapter (ALLOY_SUBGROUPS=on without the feature) needs no install help
    if (e instanceof AlloyError && !e.message.startsWith('WebGPU unavailable')) throw e;
    throw new AlloyError(`${(e as Error).message} ${missingAdapterHelp()}`, {}, { cause: e });
  }
}
