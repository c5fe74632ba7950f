/**
 * The first bytes of a 64-bit ELF file with the given program header types, enough for box's
 * static-binary check (3 = PT_INTERP: the file is dynamically linked; none: static).
 */
export function elfHeader(programHeaderTypes: number[] = []): Buffer {
  const head = Buffer.alloc(64 + 56 * programHeaderTypes.length);
  head.writeUInt32BE(0x7f454c46, 0);
  head[4] = 2;
  head.writeBigUInt64LE(64n, 0x20);
  head.writeUInt16LE(56, 0x36);
  head.writeUInt16LE(programHeaderTypes.length, 0x38);
  programHeaderTypes.forEach((type, i) => head.writeUInt32LE(type, 64 + i * 56));
  return head;
}
