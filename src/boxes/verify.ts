import {createHash, type Hash} from 'node:crypto';
import {BoxError, UsageError} from '../core/errors.js';

/** The checksum types a Vagrant catalog may name. */
export const checksumTypes = ['md5', 'sha1', 'sha256', 'sha384', 'sha512'] as const;
export type ChecksumType = (typeof checksumTypes)[number];

export interface ExpectedChecksum {
  type: ChecksumType;
  value: string;
}

export function parseChecksumType(type: string, where: string): ChecksumType {
  const normal = type.trim().toLowerCase();
  if (!(checksumTypes as readonly string[]).includes(normal)) {
    throw new UsageError('ERR_BOX_CHECKSUM_TYPE', `Unsupported checksum type "${type}" in ${where}.`, {
      hint: `Use one of ${checksumTypes.join(', ')}.`,
    });
  }
  return normal as ChecksumType;
}

/**
 * Hashes a byte stream with sha256 (always: reported in the result and used for catalogs) plus
 * the algorithm of the expected checksum when it is another one. Fed chunk by chunk while the
 * data streams past, so verification costs no second read.
 */
export class StreamHasher {
  private readonly hashes = new Map<ChecksumType, Hash>();
  bytes = 0;

  constructor(readonly expected?: ExpectedChecksum) {
    this.hashes.set('sha256', createHash('sha256'));
    if (expected && !this.hashes.has(expected.type)) this.hashes.set(expected.type, createHash(expected.type));
  }

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    for (const h of this.hashes.values()) h.update(chunk);
  }

  /** Finishes the hashes; throws ERR_BOX_CHECKSUM when the expected one differs. */
  finish(source: string): {sha256: string; verified?: ExpectedChecksum} {
    const digests = new Map([...this.hashes].map(([t, h]) => [t, h.digest('hex')]));
    const sha256 = digests.get('sha256')!;
    if (!this.expected) return {sha256};
    const actual = digests.get(this.expected.type)!;
    if (actual.toLowerCase() !== this.expected.value.trim().toLowerCase()) {
      throw new BoxError('ERR_BOX_CHECKSUM', `Checksum mismatch for ${source}: expected ${this.expected.type} ${this.expected.value.trim()}, got ${actual}.`, {
        hint: 'The download is corrupt or the checksum is wrong; nothing was installed. Check the checksum with the box publisher and run again.',
        details: {type: this.expected.type, expected: this.expected.value.trim(), actual},
      });
    }
    return {sha256, verified: {type: this.expected.type, value: actual}};
  }
}
