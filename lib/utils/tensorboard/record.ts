/**
 * TFRecord framing, as TensorBoard's event files use it: each record is
 *   uint64 length (little-endian), uint32 masked CRC-32C of those 8 bytes, data, uint32 masked CRC-32C of data
 * where masked(crc) = ((crc >>> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32).
 */
import { crc32c } from '../../io/crc';

export { crc32c };

export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** One framed record. */
export function tfRecord(data: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(maskedCrc32c(head.subarray(0, 8)), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc32c(data), 0);
  return Buffer.concat([head, data, tail]);
}
