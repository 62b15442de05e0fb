/**
 * Device acquisition. We ask for the adapter's own limits instead of WebGPU's defaults (128 MiB per storage
 * binding, 256 MiB per buffer), because the defaults cannot hold a real model's embedding or lm_head.
 */
import { hwTuningFor, setDeviceHwTuning } from './hw-tuning.ts';
import { AlloyError } from '../../common/errors.ts';
import type { KernelFamily } from '../kernel-family.ts';

export interface AdapterFacts {
  vendor: string;
  architecture: string;
  description: string;
}

/** True for a software (CPU) WebGPU adapter: named so in adapter.info, or flagged as the fallback adapter. */
export function isSoftwareAdapter(ctx: { adapterInfo: AdapterFacts & { isFallbackAdapter?: boolean } }): boolean {
  const i = ctx.adapterInfo;
  if (i.isFallbackAdapter) return true;
  return /swiftshader|llvmpipe|lavapipe|warp|software|cpu/i.test(`${i.vendor} ${i.architecture} ${i.description}`);
}

/** Whether each device's kernels use subgroup operations, decided when it was acquired. */
const subgroupsOfDevice = new WeakMap<GPUDevice, boolean>();

/**
 * Whether kernels with a subgroup variant run it on `device`: as decided by acquireDevice, or for a device it did
 * not make, whether the device has the `subgroups` feature.
 */
export function deviceSubgroups(device: GPUDevice): boolean {
  return subgroupsOfDevice.get(device) ?? device.features.has('subgroups');
}

/** The family chosen for each device when it was acquired, so a KernelRegistry made from the device alone has it. */
const familyOfDevice = new WeakMap<GPUDevice, KernelFamily>();

/** The kernel family chosen when `device` was acquired ('software' for a device acquireDevice did not make). */
export function deviceKernelFamily(device: GPUDevice): KernelFamily {
  return familyOfDevice.get(device) ?? 'software';
}

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: AdapterFacts & { isFallbackAdapter: boolean };
  /** the kernels this device runs: by adapter (software adapters → 'software'), unless forced */
  kernelFamily: KernelFamily;
  /** whether kernelFamily was forced (ALLOY_KERNELS, ?kernels=) rather than chosen by adapter */
  kernelFamilyForced: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxStorageBuffersPerShaderStage: number;
  };
  features: string[];
  /** whether the kernels use subgroup operations: the device has `subgroups`, unless turned off (ALLOY_SUBGROUPS=off in Node, ?subgroups=off in the studio) */
  subgroups: boolean;
  /** whether subgroups was forced (on or off) rather than chosen by the device's features */
  subgroupsForced: boolean;
  /** the adapter's subgroup sizes (adapter.info's subgroupMinSize/MaxSize), null where it does not say */
  subgroupSizes: { min: number; max: number } | null;
  hasShaderF16: boolean;
  /** Resolves when the device is lost; the UI offers to reload the model (the weight cache is untouched). */
  lost: Promise<GPUDeviceLostInfo>;
}

/** Limits we raise to the adapter's maximum; everything else keeps its default. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Features we use when present; none is required. */
const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

function subgroupSizesOf(info: GPUAdapterInfo | undefined): GpuContext['subgroupSizes'] {
  const i = info as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  return i?.subgroupMinSize && i.subgroupMaxSize ? { min: i.subgroupMinSize, max: i.subgroupMaxSize } : null;
}

export async function acquireDevice(
  opts: { gpu?: GPU; powerPreference?: GPUPowerPreference; kernels?: KernelFamily; subgroups?: boolean } = {},
): Promise<GpuContext> {
  const gpu = opts.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) {
    throw new AlloyError(
      'WebGPU unavailable: this browser exposes no navigator.gpu. Use a recent Chrome or Edge (or Chromium with --enable-unsafe-webgpu) on a secure (https or localhost) page.',
    );
  }
  const adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  if (!adapter) {
    throw new AlloyError('WebGPU unavailable: no GPU adapter was found (the GPU may be blocklisted or drivers missing).');
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const limits = device.limits;
  // isFallbackAdapter moved from the adapter to adapter.info (Chrome 136); read both.
  const fallback = (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const adapterInfo = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description || [info?.vendor, info?.architecture].filter(Boolean).join(' ') || 'unknown adapter',
    isFallbackAdapter: fallback === true,
  };
  const kernelFamily = opts.kernels ?? (isSoftwareAdapter({ adapterInfo }) ? 'software' : 'hardware');
  familyOfDevice.set(device, kernelFamily);
  const hasSubgroups = device.features.has('subgroups');
  if (opts.subgroups === true && !hasSubgroups) {
    device.destroy();
    throw new AlloyError(`subgroups were forced on (ALLOY_SUBGROUPS=on or ?subgroups=on), but ${adapterInfo.description} does not offer the subgroups feature`);
  }
  const subgroups = opts.subgroups ?? hasSubgroups;
  subgroupsOfDevice.set(device, subgroups);
  setDeviceHwTuning(device, hwTuningFor(adapterInfo));
  return {
    device,
    adapterInfo,
    kernelFamily,
    kernelFamilyForced: opts.kernels !== undefined,
    limits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
    features: [...device.features].map(String).sort(),
    subgroups,
    subgroupsForced: opts.subgroups !== undefined,
    subgroupSizes: subgroupSizesOf(info),
    hasShaderF16: device.features.has('shader-f16'),
    lost: device.lost,
  };
}
