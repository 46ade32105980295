/**
 * The few protobuf wire-format pieces TensorBoard's event files need (proto3, encoding only): varint,
 * 64-bit and 32-bit fixed fields and length-delimited fields (strings, bytes, nested messages, packed
 * repeated doubles). Fields are written in the order they are added.
 */

// wire types
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

export class ProtoWriter {
  private parts: Uint8Array[] = [];

  private tag(field: number, wire: number): void {
    this.rawVarint(BigInt(field) * 8n + BigInt(wire));
  }

  private rawVarint(v: bigint): void {
    // negative int64 / int32 values are written as their 64-bit two's complement (10 bytes)
    let x = v < 0n ? v + (1n << 64n) : v;
    const out: number[] = [];
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      out.push(b);
    } while (x > 0n);
    this.parts.push(Uint8Array.from(out));
  }

  /** int32, int64, uint32, uint64, bool and enum fields. */
  varint(field: number, value: number | bigint | boolean): this {
    const v = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
    this.tag(field, VARINT);
    this.rawVarint(v);
    return this;
  }

  double(field: number, value: number): this {
    return this.fixed(field, FIXED64, 8, (b) => b.writeDoubleLE(value));
  }

  float(field: number, value: number): this {
    return this.fixed(field, FIXED32, 4, (b) => b.writeFloatLE(value));
  }

  /** A fixed-width field of `size` bytes, written little-endian by `write`. */
  private fixed(field: number, wire: number, size: number, write: (b: Buffer) => void): this {
    this.tag(field, wire);
    const b = Buffer.alloc(size);
    write(b);
    this.parts.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LEN);
    this.rawVarint(BigInt(value.length));
    this.parts.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  packedDoubles(field: number, values: readonly number[]): this {
    const b = Buffer.alloc(8 * values.length);
    values.forEach((v, i) => b.writeDoubleLE(v, 8 * i));
    return this.bytes(field, b);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A new message writer. */
export const pb = (): ProtoWriter => new ProtoWriter();
