// Small display helpers shared by the panels.
//
// Sizes: the studio (and the CLI, the README's tables) shows every byte count in decimal SI units through
// formatBytes — storage, downloads and GPU memory alike, "4.0 GB" — and takes the Train panel's memory budget in
// the same GB, so an input and what is shown of it never differ by the 7% between GB and GiB.
import { formatBytes } from '../../io/progress.ts';

export { formatBytes };

/** Bytes in one GB, the unit of the Train panel's memory budget (the unit formatBytes shows it in). */
export const BYTES_PER_GB = 1e9;

/** A budget typed in GB → bytes (whole bytes). */
export function gbToBytes(gb: number): number {
  return Math.round(gb * BYTES_PER_GB);
}

/** 1536 → "1.5 K", 134_515_008 → "134.5 M": parameter counts as people say them. */
export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  const units = ['K', 'M', 'B', 'T'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatDate(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
