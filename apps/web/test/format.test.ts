import { describe, expect, it } from 'vitest';
import { formatSeconds, formatUsd } from '../lib/format';

describe('formatUsd', () => {
  it('keeps enough digits for sub-cent demo costs and trims trailing zeros', () => {
    expect(formatUsd(0.000137)).toBe('$0.000137');
    expect(formatUsd(0.9985231)).toBe('$0.9985');
    expect(formatUsd(1)).toBe('$1.00');
    expect(formatUsd(0.5)).toBe('$0.50');
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(null)).toBe('—');
  });
});

describe('formatSeconds', () => {
  it('shows milliseconds below a second and tenths above', () => {
    expect(formatSeconds(250)).toBe('250 ms');
    expect(formatSeconds(5500)).toBe('5.5 s');
  });
});
