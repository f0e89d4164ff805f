import { describe, expect, it } from 'vitest';
import { PREFILL_CHUNK, prefillChunk } from '../src/runtime/runner.js';

describe('prefillChunk', () => {
  it('runs full chunks over small caches and shrinks them, in steps of 16, as the cache grows', () => {
    expect(prefillChunk(96)).toBe(PREFILL_CHUNK);
    expect(prefillChunk(128)).toBe(PREFILL_CHUNK);
    expect(prefillChunk(256)).toBe(64);
    expect(prefillChunk(512)).toBe(32);
    expect(prefillChunk(640)).toBe(16);
    expect(prefillChunk(1152)).toBe(16);
    expect(prefillChunk(8192)).toBe(16);
    for (const capacity of [128, 384, 700, 1024, 4096]) expect(prefillChunk(capacity) % 16).toBe(0);
  });
});
