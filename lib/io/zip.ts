/**
 * A small read-only zip reader for PyTorch checkpoints: the central directory (zip64 included, as
 * torch writes it for large files), stored entries as views of the file Buffer with no copy, deflated
 * entries through zlib with the output capped at the declared size (no zip bombs), every entry's CRC-32
 * checked.
 */
import * as zlib from 'zlib';
import { formatError } from './binary';
import { crc32 } from './crc';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_ENTRIES = 1_000_000;


export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();

  constructor(private readonly buf: Buffer, private readonly source: string) {
    this.readCentralDirectory();
  }

  private fail(msg: string): never {
    throw formatError(this.source, msg);
  }

  private u64(pos: number, what: string): number {
    const v = this.buf.readBigUInt64LE(pos);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is out of range`);
    return Number(v);
  }

  private findEocd(): number {
    const b = this.buf;
    const stop = Math.max(0, b.length - 22 - 0xffff);
    for (let p = b.length - 22; p >= stop; p--) {
      if (b.readUInt32LE(p) === SIG_EOCD && p + 22 + b.readUInt16LE(p + 20) <= b.length) return p;
    }
    this.fail('not a zip archive (no end-of-central-directory record); a PyTorch checkpoint written by torch.save >= 1.6 is a zip file');
  }

  private readCentralDirectory(): void {
    const b = this.buf;
    if (b.length < 22) this.fail(`the file is ${b.length} bytes, too short to be a zip archive`);
    const eocd = this.findEocd();
    let count = b.readUInt16LE(eocd + 10);
    let cdSize = b.readUInt32LE(eocd + 12);
    let cdOffset = b.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || b.readUInt32LE(loc) !== SIG_EOCD64_LOCATOR) this.fail('zip64 sizes without a zip64 end-of-central-directory locator');
      const e64 = this.u64(loc + 8, 'zip64 end-of-central-directory offset');
      if (e64 + 56 > b.length || b.readUInt32LE(e64) !== SIG_EOCD64) this.fail('the zip64 end-of-central-directory record is missing or out of range');
      count = this.u64(e64 + 32, 'zip64 entry count');
      cdSize = this.u64(e64 + 40, 'zip64 central directory size');
      cdOffset = this.u64(e64 + 48, 'zip64 central directory offset');
    }
    if (count > MAX_ENTRIES) this.fail(`the archive claims ${count} entries (more than ${MAX_ENTRIES})`);
    if (cdOffset + cdSize > b.length) this.fail(`the central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the file (${b.length} bytes)`);
    let p = cdOffset;
    const end = cdOffset + cdSize;
    for (let i = 0; i < count; i++) {
      if (p + 46 > end || b.readUInt32LE(p) !== SIG_CENTRAL) this.fail(`central directory entry ${i} is truncated or corrupt`);
      const flags = b.readUInt16LE(p + 8);
      const method = b.readUInt16LE(p + 10);
      const crc = b.readUInt32LE(p + 16);
      let csize = b.readUInt32LE(p + 20);
      let usize = b.readUInt32LE(p + 24);
      const nameLen = b.readUInt16LE(p + 28);
      const extraLen = b.readUInt16LE(p + 30);
      const commentLen = b.readUInt16LE(p + 32);
      let offset = b.readUInt32LE(p + 42);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > end) this.fail(`central directory entry ${i} runs past the directory`);
      const name = b.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64: the 0xffffffff fields are in the 0x0001 extra field, in this order.
      if (usize === 0xffffffff || csize === 0xffffffff || offset === 0xffffffff) {
        let q = p + 46 + nameLen;
        const qEnd = q + extraLen;
        let found = false;
        while (q + 4 <= qEnd) {
          const id = b.readUInt16LE(q);
          const len = b.readUInt16LE(q + 2);
          if (q + 4 + len > qEnd) break;
          if (id === 0x0001) {
            let r = q + 4;
            const take = (what: string): number => {
              if (r + 8 > q + 4 + len) this.fail(`entry '${name}': the zip64 extra field is too short for its ${what}`);
              const v = this.u64(r, `entry '${name}' ${what}`);
              r += 8;
              return v;
            };
            if (usize === 0xffffffff) usize = take('size');
            if (csize === 0xffffffff) csize = take('compressed size');
            if (offset === 0xffffffff) offset = take('offset');
            found = true;
            break;
          }
          q += 4 + len;
        }
        if (!found) this.fail(`entry '${name}' needs a zip64 extra field and has none`);
      }
      if (this.entries.has(name)) this.fail(`the archive holds '${name}' twice`);
      this.entries.set(name, { name, method, flags, crc32: crc, compressedSize: csize, size: usize, localHeaderOffset: offset });
      p = next;
    }
  }

  /** The uncompressed bytes of an entry: a view of the file for stored entries. */
  read(name: string): Buffer {
    const e = this.entries.get(name);
    if (!e) this.fail(`the archive has no entry '${name}'`);
    const b = this.buf;
    if (e.flags & 1) this.fail(`entry '${name}' is encrypted`);
    const h = e.localHeaderOffset;
    if (h + 30 > b.length || b.readUInt32LE(h) !== SIG_LOCAL) this.fail(`entry '${name}': no local header at offset ${h}`);
    const start = h + 30 + b.readUInt16LE(h + 26) + b.readUInt16LE(h + 28);
    if (start + e.compressedSize > b.length)
      this.fail(`entry '${name}': its data [${start}, ${start + e.compressedSize}) runs past the end of the file (${b.length} bytes)`);
    const raw = b.subarray(start, start + e.compressedSize);
    let out: Buffer;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) this.fail(`stored entry '${name}' has compressed size ${e.compressedSize} but size ${e.size}`);
      out = raw;
    } else if (e.method === 8) {
      try {
        out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(e.size, 1) });
      } catch (err) {
        this.fail(`entry '${name}': deflate data is corrupt or inflates past its declared ${e.size} bytes (${(err as Error).message})`);
      }
      if (out.length !== e.size) this.fail(`entry '${name}': inflated to ${out.length} bytes, the directory says ${e.size}`);
    } else this.fail(`entry '${name}' uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    if (crc32(out) !== e.crc32 >>> 0) this.fail(`entry '${name}' fails its CRC-32 check (the file is corrupt)`);
    return out;
  }
}
