/**
 * The CPU kernels' runtime ISA dispatch (csrc/cpu/isa.h): the path follows CPUID and CONVKIT_CPU_ISA (a
 * request above the CPU is clamped, with a warning), a CPU without AVX2 (hidden from the detector, or
 * emulated by qemu-x86_64 -cpu Nehalem, which raises SIGILL on any AVX instruction) gets the baseline path
 * and correct GEMMs, and in the linked binary only the per-ISA namespaces contain VEX/EVEX code.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as ck from '../../lib';
import { binaryPath } from '../../lib/binding';
import { cpuIsaWarning } from '../../lib/info';

const probe = path.join(__dirname, '..', 'helpers', 'isa_probe.js');
interface Probe { isa: string; supported: string; note: string; bf16: boolean; worst: number }

function run(env: Record<string, string>, prefix: string[] = []): Probe {
  const cmd = prefix.length ? prefix[0] : process.execPath;
  const args = [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), probe, binaryPath];
  const clean = { ...process.env };
  delete clean.CONVKIT_CPU_ISA;
  delete clean.CONVKIT_CPU_ISA_MASK;
  const r = spawnSync(cmd, args, { env: { ...clean, ...env }, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status} signal ${r.signal}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Probe;
}
const rank = (s: string) => ['baseline', 'avx2', 'avx512'].indexOf(s);
const GEMM_TOL = 1e-5; // relative to sum |a*b|: float accumulation over K <= 300

describe('CPU ISA dispatch', () => {
  const native = run({});

  it('ck.info() names the path in use and the best the CPU supports', () => {
    const c = ck.info().cpu;
    expect(['baseline', 'avx2', 'avx512']).toContain(c.isa);
    expect(rank(c.isa)).toBeLessThanOrEqual(rank(c.supported));
    if (!process.env.CONVKIT_CPU_ISA) expect(c.isa).toBe(c.supported);
    expect(native.isa).toBe(native.supported);
    expect(native.note).toBe('detected');
    expect(native.worst).toBeLessThan(GEMM_TOL);
  });

  it('CONVKIT_CPU_ISA forces each path the CPU has, and clamps one above it with a warning', () => {
    for (const want of ['baseline', 'avx2', 'avx512']) {
      const p = run({ CONVKIT_CPU_ISA: want });
      expect(p.supported).toBe(native.supported);
      if (rank(want) <= rank(native.supported)) {
        expect(p.isa).toBe(want);
        expect(p.note).toBe(`CONVKIT_CPU_ISA=${want}`);
        expect(cpuIsaWarning(want, { cpuIsa: p.isa, cpuIsaNote: p.note })).toBeNull();
      } else {
        expect(p.isa).toBe(native.supported);
        expect(p.note).toMatch(/asks for more than this CPU supports: clamped to/);
        expect(cpuIsaWarning(want, { cpuIsa: p.isa, cpuIsaNote: p.note })).toBe(p.note);
      }
      expect(p.worst).toBeLessThan(GEMM_TOL);
    }
    const bogus = run({ CONVKIT_CPU_ISA: 'sse9' });
    expect(bogus.isa).toBe(native.supported);
    expect(bogus.note).toMatch(/CONVKIT_CPU_ISA=sse9 is not one of baseline, avx2, avx512: ignored/);
    expect(cpuIsaWarning('sse9', { cpuIsa: bogus.isa, cpuIsaNote: bogus.note })).toBe(bogus.note);
  });

  it('a CPU without AVX2 (hidden from CPUID) gets the baseline path, even when avx512 is asked for', () => {
    const p = run({ CONVKIT_CPU_ISA_MASK: 'avx2', CONVKIT_CPU_ISA: 'avx512' });
    expect(p).toMatchObject({ isa: 'baseline', supported: 'baseline', bf16: false });
    expect(p.note).toBe('CONVKIT_CPU_ISA=avx512 asks for more than this CPU supports: clamped to baseline');
    expect(p.worst).toBeLessThan(GEMM_TOL);
    if (rank(native.supported) >= rank('avx2')) {
      expect(run({ CONVKIT_CPU_ISA_MASK: 'avx512' })).toMatchObject({ isa: 'avx2', supported: 'avx2', bf16: false });
    }
  });

  it('only the per-ISA namespaces of the linked binary contain AVX (VEX/EVEX) instructions', () => {
    const r = spawnSync('objdump', ['-d', '--no-show-raw-insn', '-C', binaryPath], { encoding: 'utf8', maxBuffer: 1 << 30 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    const withAvx = new Set<string>();
    let fn = '';
    for (const line of r.stdout.split('\n')) {
      const head = /^[0-9a-f]+ <(.*)>:$/.exec(line);
      if (head) {
        fn = head[1];
        continue;
      }
      const insn = line.split('\t')[1] ?? '';
      if (/^v[a-z]/.test(insn) || /^k[a-z]+\s/.test(insn) || /%[yz]mm\d|%k[0-7]/.test(line)) withAvx.add(fn);
    }
    const outside = [...withAvx].filter((f) => !/^ck::(avx2|avx512|avx512bf16)::/.test(f));
    expect(outside).toEqual([]);
    // and the x86-64 build has the AVX paths at all
    if (process.arch === 'x64') expect([...withAvx].some((f) => f.startsWith('ck::avx2::'))).toBe(true);
  });

  // A real CPU without AVX: qemu-user's decoder raises SIGILL for any instruction the modelled CPU lacks
  // (binaries built before the dispatch die there at the first GEMM). CI installs qemu-user; the cpu
  // flavour only (the emu flavour's host code is the same, and qemu costs ~10 s a run).
  const qemu = spawnSync('qemu-x86_64', ['-version'], { encoding: 'utf8' });
  (qemu.status === 0 && process.arch === 'x64' && ck.info().flavour === 'cpu' ? it : it.skip)('under qemu-x86_64: Nehalem (no AVX) runs baseline, Haswell avx2', () => {
    const old = run({}, ['qemu-x86_64', '-cpu', 'Nehalem']);
    expect(old).toMatchObject({ isa: 'baseline', supported: 'baseline', note: 'detected' });
    expect(old.worst).toBeLessThan(GEMM_TOL);
    const hsw = run({ CONVKIT_CPU_ISA: 'avx512' }, ['qemu-x86_64', '-cpu', 'Haswell']);
    expect(hsw).toMatchObject({ isa: 'avx2', supported: 'avx2' });
    expect(hsw.worst).toBeLessThan(GEMM_TOL);
  }, 120000);
});
