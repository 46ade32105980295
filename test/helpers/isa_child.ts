/**
 * The native probes' runner (test/helpers/*_probe.js): the CPU ISA dispatch is chosen once at load, so each path
 * is checked in a fresh process with CONVKIT_CPU_ISA set (and no CONVKIT_CPU_ISA_MASK / CONVKIT_CONV_ALGO from the
 * caller's environment); the probe prints one JSON line last.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as ck from '../../lib';
import { binaryPath } from '../../lib/binding';

export const ISA_PATHS = ['baseline', 'avx2', 'avx512'] as const;

/** The JSON of the last stdout line of test/helpers/<script> run under CONVKIT_CPU_ISA=isa (plus env). */
export function runIsaProbe<T>(script: string, isa: string, env: NodeJS.ProcessEnv = {}): T {
  const e: NodeJS.ProcessEnv = { ...process.env, CONVKIT_CPU_ISA: isa };
  delete e.CONVKIT_CPU_ISA_MASK;
  delete e.CONVKIT_CONV_ALGO;
  const r = spawnSync(process.execPath, [path.join(__dirname, script), binaryPath], { env: { ...e, ...env }, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`${script} (${isa}): exit ${r.status} signal ${r.signal}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as T;
}

/** The path a request for `isa` gets on this CPU: a path above the CPU's is clamped to the best it has (cpu/isa.h). */
export function expectedIsa(isa: string): string {
  const rank = (s: string) => (ISA_PATHS as readonly string[]).indexOf(s);
  const supported = ck.info().cpu.supported as string;
  return rank(isa) <= rank(supported) ? isa : supported;
}
