/**
 * GPU buffers with byte accounting. Every buffer the engine makes goes through a pool so the studio can show
 * current and peak GPU memory, and so freed buffers are reused instead of left for the garbage collector
 * (GPU memory is not reliably returned until destroy() is called).
 */
export interface PoolStats {
  /** bytes in buffers handed out and not yet released */
  liveBytes: number;
  /** bytes in released buffers kept for reuse */
  pooledBytes: number;
  /** the highest liveBytes + pooledBytes seen */
  peakBytes: number;
  liveBuffers: number;
}

const STORAGE = 0x80; // GPUBufferUsage.STORAGE, spelled out so this module loads before Dawn's globals exist
const COPY_SRC = 0x04;
const COPY_DST = 0x08;

/**
 * Size classes: multiples of 256 bytes up to 1 MiB, multiples of 64 KiB above. Buffers of one shape recur every
 * layer and every step, so fine classes still reuse well, and a big weight wastes at most 64 KiB (power-of-two
 * classes cost up to +100%: +54% measured on SmolLM2-360M's weights).
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 1 << 20) return Math.ceil(b / 256) * 256;
  return Math.ceil(b / 65536) * 65536;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  private liveBytes = 0;
  private pooledBytes = 0;
  private peakBytes = 0;

  constructor(readonly device: GPUDevice) {}

  /** A storage buffer of at least `bytes` bytes (contents undefined unless fresh). */
  alloc(bytes: number, label = 'tensor', usage = STORAGE | COPY_SRC | COPY_DST): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${size}:${usage}`;
    const reused = this.free.get(key)?.pop();
    let buf: GPUBuffer;
    if (reused) {
      this.pooledBytes -= size;
      buf = reused;
      buf.label = label;
    } else {
      buf = this.device.createBuffer({ size, usage, label });
    }
    this.live.add(buf);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes + this.pooledBytes);
    return buf;
  }

  /** A buffer filled with `data` (uploaded through the queue). */
  upload(data: ArrayBufferView, label = 'tensor'): GPUBuffer {
    const buf = this.alloc(data.byteLength, label);
    // writeBuffer needs a multiple of 4 bytes; pad the tail of odd-sized data.
    // Typed arrays over SharedArrayBuffer are accepted by writeBuffer too; the cast only satisfies lib.dom.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength) as Uint8Array<ArrayBuffer>;
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buf, 0, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buf, 0, padded);
    }
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    this.liveBytes -= buf.size;
    this.pooledBytes += buf.size;
    const key = `${buf.size}:${buf.usage}`;
    const list = this.free.get(key) ?? [];
    list.push(buf);
    this.free.set(key, list);
  }

  /** Destroys pooled buffers (not live ones): gives memory back to the driver between jobs. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }

  destroyAll(): void {
    this.trim();
    for (const b of this.live) b.destroy();
    this.live.clear();
    this.liveBytes = 0;
  }

  stats(): PoolStats {
    return { liveBytes: this.liveBytes, pooledBytes: this.pooledBytes, peakBytes: this.peakBytes, liveBuffers: this.live.size };
  }
}

/**
 * A byte range of a buffer, bound to a kernel as a buffer of its own (a stacked LoRA group's member:
 * lora/adapter.ts). WebGPU binds storage at offsets that are multiples of minStorageBufferOffsetAlignment, at most
 * 256 bytes on every adapter, so ranges start at multiples of BINDING_ALIGN.
 */
export interface BufferRange {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  /** bytes bound: at least the data's (a kernel's array must not be shorter than one of its elements) */
  readonly size: number;
}
/** The alignment of a BufferRange's offset, bytes (the largest minStorageBufferOffsetAlignment WebGPU allows). */
export const BINDING_ALIGN = 256;

/** A buffer or a range of one: what a kernel binding, a readback or a write may name. */
export type BufferOrRange = GPUBuffer | BufferRange;

export function isRange(b: BufferOrRange): b is BufferRange {
  return 'buffer' in b && 'offset' in b;
}

/** (buffer, byte offset) of a buffer or range. */
export function rangeStart(b: BufferOrRange): [GPUBuffer, number] {
  return isRange(b) ? [b.buffer, b.offset] : [b, 0];
}

/** Copies a GPU buffer (or range) back to the CPU (tests, logits, checkpoints). */
export async function readBuffer(device: GPUDevice, src: BufferOrRange, bytes = src.size): Promise<ArrayBuffer> {
  const enc = device.createCommandEncoder();
  const staging = encodeReadback(device, enc, src, bytes);
  device.queue.submit([enc.finish()]);
  return mapReadback(staging, bytes);
}

/** A fresh staging buffer and the copy of src's first `bytes` into it, as a command of `enc` (then mapReadback). */
export function encodeReadback(device: GPUDevice, enc: GPUCommandEncoder, src: BufferOrRange, bytes = src.size): GPUBuffer {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({ size, usage: 0x01 /* MAP_READ */ | COPY_DST, label: 'readback' });
  const [buf, offset] = rangeStart(src);
  enc.copyBufferToBuffer(buf, offset, staging, 0, size);
  return staging;
}

/** queue.writeBuffer into a buffer or range (at the range's start). */
export function writeRange(device: GPUDevice, dst: BufferOrRange, data: ArrayBufferView<ArrayBuffer>): void {
  const [buf, offset] = rangeStart(dst);
  device.queue.writeBuffer(buf, offset, data);
}

/** The first `bytes` of a staging buffer from encodeReadback, once its copy has run; the buffer is destroyed. */
export async function mapReadback(staging: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  try {
    await staging.mapAsync(0x01 /* GPUMapMode.READ */);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    return out;
  } finally {
    staging.destroy();
  }
}
