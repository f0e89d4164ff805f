/** GPT-2's reversible mapping of the 256 byte values onto printable characters. */

const byteToChar: string[] = [];
const charToByte = new Map<string, number>();

{
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const ch = String.fromCharCode(printable(b) ? b : next++);
    byteToChar[b] = ch;
    charToByte.set(ch, b);
  }
}

const utf8 = new TextEncoder();

export function bytesToByteLevel(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += byteToChar[b];
  return out;
}

/** Bytes of a byte-level token; characters outside the alphabet are taken as UTF-8 text. */
export function byteLevelToBytes(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const b = charToByte.get(ch);
    if (b !== undefined) out.push(b);
    else for (const x of utf8.encode(ch)) out.push(x);
  }
  return Uint8Array.from(out);
}

/** The 256 characters standing for bytes 0..255, in byte order. */
export function byteLevelAlphabet(): string[] {
  return [...byteToChar];
}
