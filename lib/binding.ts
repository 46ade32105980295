/**
 * Loads the native addon. Candidates, in order: CONVKIT_BINARY (a path, or a flavour name: cpu, cuda,
 * emu), then the builds in this checkout (build/, build-cuda/, build-emu/, build-cpu/), then the
 * prebuilt binaries through node-gyp-build. If none loads, one error lists every attempt and its
 * reason, and what to do about it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ckError } from './errors';

export interface NativeStorage {
  dispose(): void;
  readonly disposed: boolean;
  readonly bytes: number;
  readonly device: number;
}

export type Layout = number[];

export interface Native {
  Storage: unknown;
  alloc(device: number, bytes: number): NativeStorage;
  upload(s: NativeStorage, byteOffset: number, src: ArrayBufferView): void;
  download(s: NativeStorage, byteOffset: number, dst: ArrayBufferView): void;
  copyBytes(dst: NativeStorage, dstOff: number, src: NativeStorage, srcOff: number, bytes: number): void;
  unary(op: number, inDt: number, outDt: number, x: NativeStorage, xl: Layout, y: NativeStorage, a: number, b: number): void;
  binary(op: number, inDt: number, outDt: number, a: NativeStorage, al: Layout, b: NativeStorage, bl: Layout, y: NativeStorage): void;
  reduce(op: number, dt: number, x: NativeStorage, xOff: number, y: NativeStorage, outer: number, inner: number, correction: number): void;
  copy(src: NativeStorage, sl: Layout, dst: NativeStorage, dl: Layout): void;
  fill(dt: number, s: NativeStorage, offset: number, n: number, value: number): void;
  random(kind: number, dt: number, s: NativeStorage, n: number, seedHi: number, seedLo: number, offset: number, a: number, b: number): void;
  gemm(
    batch: number, M: number, N: number, K: number, alpha: number,
    A: NativeStorage, offA: number, sAb: number, rsA: number, csA: number,
    B: NativeStorage, offB: number, sBb: number, rsB: number, csB: number,
    beta: number, C: NativeStorage, offC: number, sCb: number, ldc: number,
  ): void;
  buildInfo(): { flavour: string; cudaArchs: string; cudaCompiled: boolean; cudaEmulated: boolean };
  cudaInfo(): { available: boolean; emulated: boolean; deviceCount: number; devices: string[]; runtime: string };
  synchronize(): void;
  memoryStats(): { device: number; live: number; bytes: number; peakBytes: number }[];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  [name: string]: any;
}

const root = path.resolve(__dirname, '..');
const FLAVOURS = ['cpu', 'cuda', 'emu'];

function candidates(): string[] {
  const env = process.env.CONVKIT_BINARY;
  if (env) {
    if (FLAVOURS.includes(env)) {
      return [
        path.join(root, `build-${env}`, 'Release', 'convkit.node'),
        path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `convkit.${env}.node`),
      ];
    }
    return [path.resolve(env)];
  }
  return [
    path.join(root, 'build', 'Release', 'convkit.node'),
    path.join(root, 'build-cuda', 'Release', 'convkit.node'),
    path.join(root, 'build-cpu', 'Release', 'convkit.node'),
    path.join(root, 'build-emu', 'Release', 'convkit.node'),
  ];
}

export let binaryPath = '';

function load(): Native {
  const attempts: string[] = [];
  const tryList = candidates();
  for (const p of tryList) {
    if (!fs.existsSync(p)) {
      attempts.push(`  ${p}: not found`);
      continue;
    }
    try {
      const m = require(p) as Native;
      binaryPath = p;
      return m;
    } catch (e) {
      attempts.push(`  ${p}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!process.env.CONVKIT_BINARY) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const ngb = require('node-gyp-build') as { path(dir: string): string };
      const p = ngb.path(root);
      const m = require(p) as Native;
      binaryPath = p;
      return m;
    } catch (e) {
      attempts.push(`  prebuilt (node-gyp-build): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  throw ckError(
    'ERR_BINDING',
    'convkit: could not load the native addon. Tried:\n' +
      attempts.join('\n') +
      '\nTo fix: run `npm run build` in the convkit package (needs cmake and a C++17 compiler; nvcc for CUDA), ' +
      'or reinstall so a prebuilt binary for ' + `${process.platform}-${process.arch}` + ' is used.' +
      (process.env.CONVKIT_BINARY ? `\nCONVKIT_BINARY is set to '${process.env.CONVKIT_BINARY}'.` : ''),
  );
}

export const native: Native = load();
