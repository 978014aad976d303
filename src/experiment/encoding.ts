/** Byte-level checks on a file before it is decoded as UTF-8 text. */
import {isUtf8} from 'node:buffer'

/** The offset of the first byte that is not part of valid UTF-8, or -1 when all of it is valid. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i] as number
    const length =
      b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (length === 0 || i + length > bytes.length) return i
    for (let k = 1; k < length; k++) {
      const c = bytes[i + k] as number
      if ((c & 0xc0) !== 0x80) return i
    }
    // Overlong three/four-byte forms, surrogates and code points above U+10FFFF.
    const second = bytes[i + 1] as number
    if (
      (b === 0xe0 && second < 0xa0) ||
      (b === 0xed && second > 0x9f) ||
      (b === 0xf0 && second < 0x90) ||
      (b === 0xf4 && second > 0x8f)
    )
      return i
    i += length
  }
  return -1
}

/** 1-based line and column (in characters of the valid prefix) of a byte offset. */
export function bytePosition(bytes: Uint8Array, offset: number): {line: number; col: number} {
  const before = Buffer.from(bytes.subarray(0, offset)).toString('utf8')
  const lastNewline = before.lastIndexOf('\n')
  const line = before.split('\n').length
  return {line, col: before.length - lastNewline}
}
