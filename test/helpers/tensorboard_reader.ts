/**
 * An independent reader of TensorBoard event files for tests, written from the format's documentation
 * (not from convkit's writer): TFRecord framing with both masked CRC-32Cs checked by a bitwise CRC-32C,
 * then `tensorflow.Event` protobufs decoded field by field (event.proto: wall_time 1, step 2,
 * file_version 3, summary 5; summary.proto: Summary.value 1, Value.tag 1, Value.simple_value 2).
 */
import * as fs from 'fs';

/** CRC-32C computed bit by bit, independent of lib/io/crc.ts's table. */
export function crc32cBitwise(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
const masked = (c: number) => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;

/** The records of a TFRecord file; throws on a bad length or data CRC or a truncated record. */
export function readRecords(file: string): Buffer[] {
  const buf = fs.readFileSync(file);
  const out: Buffer[] = [];
  let p = 0;
  while (p < buf.length) {
    if (p + 12 > buf.length) throw new Error(`${file}: truncated record header at byte ${p}`);
    const lenBytes = buf.subarray(p, p + 8);
    if (buf.readUInt32LE(p + 8) !== masked(crc32cBitwise(lenBytes))) throw new Error(`${file}: bad length CRC at byte ${p}`);
    const len = Number(buf.readBigUInt64LE(p));
    if (p + 16 + len > buf.length) throw new Error(`${file}: truncated record at byte ${p}`);
    const data = buf.subarray(p + 12, p + 12 + len);
    if (buf.readUInt32LE(p + 12 + len) !== masked(crc32cBitwise(data))) throw new Error(`${file}: bad data CRC at byte ${p}`);
    out.push(data);
    p += 16 + len;
  }
  return out;
}

type Field = { wire: number; v: bigint | Buffer };
export type Msg = Map<number, Field[]>;

/** One protobuf message, field number -> its occurrences (varints as bigint, the rest as bytes). */
export function decodeProto(buf: Buffer): Msg {
  const m: Msg = new Map();
  let p = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (p >= buf.length) throw new Error('truncated varint');
      const b = buf[p++];
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (p < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let v: bigint | Buffer;
    if (wire === 0) v = varint();
    else if (wire === 1) v = buf.subarray(p, (p += 8));
    else if (wire === 5) v = buf.subarray(p, (p += 4));
    else if (wire === 2) {
      const n = Number(varint());
      v = buf.subarray(p, (p += n));
    } else throw new Error(`unsupported wire type ${wire}`);
    if (p > buf.length) throw new Error('truncated field');
    if (!m.has(field)) m.set(field, []);
    m.get(field)!.push({ wire, v });
  }
  return m;
}

export interface ScalarEvent {
  tag: string;
  step: number;
  value: number;
  wallTime: number;
}

/** The file_version of the first event, and every simple_value scalar in file order. */
export function readScalarEvents(file: string): { fileVersion: string; scalars: ScalarEvent[] } {
  const recs = readRecords(file).map(decodeProto);
  const first = recs[0]?.get(3)?.[0];
  const fileVersion = first ? (first.v as Buffer).toString('utf8') : '';
  const scalars: ScalarEvent[] = [];
  for (const ev of recs) {
    const summary = ev.get(5)?.[0];
    if (!summary) continue;
    const wallTime = (ev.get(1)?.[0]?.v as Buffer | undefined)?.readDoubleLE(0) ?? 0;
    const step = Number((ev.get(2)?.[0]?.v as bigint | undefined) ?? 0n);
    for (const val of decodeProto(summary.v as Buffer).get(1) ?? []) {
      const vm = decodeProto(val.v as Buffer);
      const sv = vm.get(2)?.[0];
      if (!sv) continue;
      scalars.push({ tag: (vm.get(1)![0].v as Buffer).toString('utf8'), step, value: (sv.v as Buffer).readFloatLE(0), wallTime });
    }
  }
  return { fileVersion, scalars };
}
