/** `ArrayBuffer.prototype.transfer` (ES2024; Node 21+), not yet in the ES2023 type library. */
export type TransferableBuffer = ArrayBuffer & { transfer(newByteLength?: number): ArrayBuffer };

/**
 * Frees a buffer the engine is done with now instead of at some later garbage collection.
 * Every run returns its outputs in new buffers (onnxruntime-node copies each one out), so a long
 * prefill passes about the KV cache's size through them, and chained shards hand each other
 * hidden states of the whole prompt; the collector reclaims dead buffers only when it next
 * runs, which can be tens of megabytes later. Handing the buffer over detaches it and releases
 * its memory at once. Only a typed array spanning its whole buffer is released.
 */
export function releaseBuffer(data: Float32Array | Uint16Array | Int8Array): void {
  if (
    data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength &&
    data.buffer instanceof ArrayBuffer
  ) {
    (data.buffer as TransferableBuffer).transfer(0);
  }
}
