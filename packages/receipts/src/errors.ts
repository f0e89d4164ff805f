/** Thrown by signing and key-directory helpers when their input does not match the receipt format. */
export class ReceiptFormatError extends Error {
  override readonly name = 'ReceiptFormatError';
}
