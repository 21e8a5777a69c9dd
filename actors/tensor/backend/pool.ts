// Size-bucketed GPU buffer pool. Buffers are bucketed by powers of two (min 256 bytes), so a freed
// buffer serves any later request of the same bucket. A buffer released while commands that use it
// are still being recorded is parked until the flush that submits them (see WebGpuBackend), so a
// queue.writeBuffer for its next owner can never overtake those commands.
export const STORAGE_USAGE = 128 | 8 | 4; // STORAGE | COPY_DST | COPY_SRC

export function bucketSize(bytes: number): number {
  let size = 256;
  while (size < bytes) size *= 2;
  return size;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  pooledBytes = 0;
  allocatedBytes = 0;
  created = 0;
  reused = 0;

  constructor(private readonly device: GPUDevice, private readonly maxPooledBytes = 256 * 1024 * 1024) {}

  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const list = this.free.get(size);
    const hit = list?.pop();
    if (hit) {
      this.pooledBytes -= size;
      this.reused++;
      return hit;
    }
    this.created++;
    this.allocatedBytes += size;
    return this.device.createBuffer({ size, usage: STORAGE_USAGE });
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    if (this.pooledBytes + size > this.maxPooledBytes) {
      this.allocatedBytes -= size;
      buffer.destroy();
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
    this.pooledBytes += size;
  }

  /** Destroys every pooled buffer (on shutdown or to give memory back). */
  drain(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.allocatedBytes -= this.pooledBytes;
    this.free.clear();
    this.pooledBytes = 0;
  }
}
