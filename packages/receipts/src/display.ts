/**
 * Failure details quote values from untrusted documents and end up in terminals and web pages.
 * Control and format characters (ANSI escapes, bidi overrides, zero-width joiners) are written as
 * \u escapes and long values are cut, so a crafted receipt cannot disguise what it says.
 */
export function safeDetail(text: string, maxLength = 2000): string {
  const escaped = text.replace(
    /[\p{Cc}\p{Cf}]/gu,
    (char) => `\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}`,
  );
  return escaped.length > maxLength ? `${escaped.slice(0, maxLength)}…` : escaped;
}

/** A value from an untrusted document, quoted and cut to a readable length. */
export function quote(value: unknown, maxLength = 80): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value));
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}
