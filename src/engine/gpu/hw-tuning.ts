/**
 * The hardware kernel family's tuning per adapter (issue 15, "pick by measurement"): a table keyed by the
 * adapter's vendor and architecture (adapter.info), with a default for every other GPU. `alloy bench kernels
 * --tune` measures the candidates on the machine it runs on and prints the entry to add here, with its figures.
 *
 * minWorkgroups: a tiled matmul takes the largest C tile (ops/matmul-hw.ts HW_TILES) that still launches this
 * many workgroups, else the smallest tile; split-K aims at it too. The default, 128, is about four per SM of a
 * 30-SM laptop GPU (RTX 3060 Laptop), so small-N projections (SmolLM2-135M's k/v, N = 192) still fill the machine.
 */
export interface HwTuning {
  minWorkgroups: number;
}

export const DEFAULT_HW_TUNING: HwTuning = { minWorkgroups: 128 };

export interface HwTuningEntry {
  /** adapter.info.vendor, lower case (e.g. 'nvidia', 'apple', 'intel', 'amd') */
  vendor: string;
  /** adapter.info.architecture, lower case; '' matches any architecture of the vendor */
  architecture: string;
  tuning: HwTuning;
  /** where the entry comes from: the --tune run (device, date, the figures it chose from) */
  source: string;
}

/** Measured entries; empty until a lent GPU has run `alloy bench kernels --tune` (none had when this was written). */
export const HW_TUNING_TABLE: readonly HwTuningEntry[] = [];

/** The entry for this adapter (an exact architecture first, then the vendor's), else the default. */
export function hwTuningFor(info: { vendor: string; architecture: string }, table: readonly HwTuningEntry[] = HW_TUNING_TABLE): HwTuning {
  const vendor = info.vendor.toLowerCase();
  const arch = info.architecture.toLowerCase();
  const hit = table.find((e) => e.vendor === vendor && e.architecture !== '' && e.architecture === arch) ?? table.find((e) => e.vendor === vendor && e.architecture === '');
  return hit?.tuning ?? DEFAULT_HW_TUNING;
}

const tuningOfDevice = new WeakMap<GPUDevice, HwTuning>();

/** Remembers the tuning chosen when the device was acquired (gpu/device.ts). */
export function setDeviceHwTuning(device: GPUDevice, tuning: HwTuning): void {
  tuningOfDevice.set(device, tuning);
}

/** The tuning of a device (the default for one acquireDevice did not make). */
export function deviceHwTuning(device: GPUDevice): HwTuning {
  return tuningOfDevice.get(device) ?? DEFAULT_HW_TUNING;
}
