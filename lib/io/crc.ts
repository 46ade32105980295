/**
 * The two CRC-32s convkit writes and checks, from one table builder: zip's CRC-32 (reflected polynomial
 * 0xedb88320; Node's zlib.crc32 where it has it, Node >= 20.15) and CRC-32C (Castagnoli, reflected
 * polynomial 0x82f63b78), which TensorBoard's TFRecord framing uses.
 */
import * as zlib from 'zlib';

function tableFor(poly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? poly ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

function crcWith(table: Uint32Array, data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

let zipTable: Uint32Array | null = null;
let castagnoliTable: Uint32Array | null = null;
const zlibCrc = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;

/** zip's CRC-32. */
export function crc32(data: Uint8Array): number {
  if (zlibCrc) return zlibCrc(data) >>> 0;
  return crcWith((zipTable ??= tableFor(0xedb88320)), data);
}

/** CRC-32C (Castagnoli). */
export function crc32c(data: Uint8Array): number {
  return crcWith((castagnoliTable ??= tableFor(0x82f63b78)), data);
}
