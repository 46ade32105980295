#!/usr/bin/env node
// Lists the GPU code embedded in a binary: `cuobjdump --list-elf --list-ptx` when the toolkit has it,
// else our own reading of the .nv_fatbin ELF section (fatbin container headers: magic 0xBA55ED50, then
// per entry: kind 1 = PTX / 2 = ELF, header size, padded payload size, sm version). Prints one line per
// entry, `ELF sm_90` / `PTX sm_90`; with --json, an array of {kind, arch}.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');

function viaCuobjdump(file) {
  const r = spawnSync('cuobjdump', ['--list-elf', '--list-ptx', file], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  const out = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(ELF|PTX) file\s+\d+:.*\.(sm_\d+[a-z]?)\.(cubin|ptx)/.exec(line);
    if (m) out.push({ kind: m[1], arch: m[2] });
  }
  return out;
}

function section(buf, want) {
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2) throw new Error('not a 64-bit ELF file');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const sh = (i) => shoff + i * shentsize;
  const strOff = Number(buf.readBigUInt64LE(sh(shstrndx) + 0x18));
  for (let i = 0; i < shnum; i++) {
    const nameOff = buf.readUInt32LE(sh(i));
    let end = strOff + nameOff;
    while (buf[end] !== 0) end++;
    if (buf.toString('latin1', strOff + nameOff, end) === want) {
      const off = Number(buf.readBigUInt64LE(sh(i) + 0x18));
      const size = Number(buf.readBigUInt64LE(sh(i) + 0x20));
      return buf.subarray(off, off + size);
    }
  }
  return null;
}

function viaFatbin(file) {
  const buf = fs.readFileSync(file);
  const fat = section(buf, '.nv_fatbin');
  if (!fat) return [];
  const out = [];
  let pos = 0;
  while (pos + 16 <= fat.length) {
    if (fat.readUInt32LE(pos) !== 0xba55ed50) {
      pos += 8; // containers are 8-byte aligned; skip padding
      continue;
    }
    const headerSize = fat.readUInt16LE(pos + 6);
    const filesSize = Number(fat.readBigUInt64LE(pos + 8));
    let e = pos + headerSize;
    const end = e + filesSize;
    while (e + 40 <= end) {
      const kind = fat.readUInt16LE(e);
      const entryHeader = fat.readUInt32LE(e + 4);
      const padded = fat.readUInt32LE(e + 8);
      const sm = fat.readUInt32LE(e + 28);
      if (kind === 1 || kind === 2) out.push({ kind: kind === 1 ? 'PTX' : 'ELF', arch: `sm_${sm}` });
      if (entryHeader === 0) break;
      e += entryHeader + padded;
    }
    pos = end;
  }
  return out;
}

function listArchs(file) {
  const list = viaCuobjdump(file) ?? viaFatbin(file);
  const seen = new Set();
  return list.filter((x) => {
    const k = `${x.kind} ${x.arch}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

module.exports = { listArchs };

if (require.main === module) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) {
    console.error('usage: list-cuda-archs.js <binary> [--json]');
    process.exit(2);
  }
  const list = listArchs(file);
  if (args.includes('--json')) console.log(JSON.stringify(list));
  else for (const x of list) console.log(`${x.kind} ${x.arch}`);
}
