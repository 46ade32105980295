#!/usr/bin/env node
// `npm run bench -- [suite ...] [--quick] [--dry] [--device cpu|cuda] [--threads N] [--out DIR]`
// Runs each suite's cases in convkit and in PyTorch side by side, prints the table, writes a dated JSON
// report under benchmarks/results/ (or --out). --dry (the GPU check's CI dry run) runs only each suite's
// first quick case, once per side, and skips the peak measurement: it checks the plumbing, not speed.
'use strict';
const fs = require('fs');
const path = require('path');
const { runSideBySide, formatRow, header, machine, svgChart, measurePeak, peakFraction } = require('./harness');

const USAGE = `usage: node benchmarks/run.js [suite ...] [--quick] [--dry] [--device cpu|cuda] [--threads N] [--out DIR]
  (npm run bench -- ...; needs the compiled library: npm run build:ts, or CONVKIT_LIB=<folder>)

Runs each suite's cases in convkit and in PyTorch (/usr/bin/python3 with torch) side by side, prints a table
led by the ratio, and writes a dated JSON and SVG report under benchmarks/results/ (or --out).
  suite ...        which suites to run (default: all): %SUITES%
  --quick          small shapes, fewer repetitions (about a minute on 2 cores for all suites)
  --dry            only the first quick case of each suite, once per side, no peak measurement (plumbing check)
  --device D       cpu (default) or cuda
  --threads N      threads for both sides (default: all cores)
  --out DIR        where the report goes (default: benchmarks/results/)
  -h, --help       this text`;

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    const suites = fs.readdirSync(path.join(__dirname, 'suites')).map((f) => f.replace(/\.js$/, ''));
    console.log(USAGE.replace('%SUITES%', suites.join(', ')));
    return;
  }
  const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
  const dry = argv.includes('--dry');
  const quick = dry || argv.includes('--quick');
  const device = opt('--device', 'cpu');
  const outDir = opt('--out', path.join(__dirname, 'results'));
  const valued = new Set(['--device', '--threads', '--out']);
  const suites = argv.filter((a, i) => !a.startsWith('--') && !valued.has(argv[i - 1]));
  const available = fs.readdirSync(path.join(__dirname, 'suites')).map((f) => f.replace(/\.js$/, ''));
  const chosen = suites.length ? suites : available;
  for (const s of chosen) if (!available.includes(s)) throw new Error(`unknown suite '${s}' (have: ${available.join(', ')})`);

  const ck = require(process.env.CONVKIT_LIB || '../dist');
  const threads = Number(opt('--threads', String(ck.getNumThreads())));
  ck.setNumThreads(threads);
  const opts = dry
    ? { device, threads, rounds: 1, repsPerRound: 1, warmup: 1, sampleMs: 0, maxSpread: 0.25, dry: true }
    : { device, threads, rounds: 5, repsPerRound: quick ? 4 : 6, warmup: 2, sampleMs: quick ? 15 : 40, maxSpread: 0.25 };
  const m = machine();
  console.log(`convkit ${ck.info().version} (${ck.info().flavour}) vs PyTorch, device ${device}, ${threads} threads, ${m.cpu}`);
  const { native } = require(path.join(process.env.CONVKIT_LIB || path.join(__dirname, '..', 'dist'), 'binding'));
  let peak = null;
  if (dry) console.log('[bench] --dry: first case of each suite, one sample per side, no peak measurement');
  else {
    try {
      peak = measurePeak(native, device, quick);
    } catch (e) {
      console.error(`[bench] no % peak column: measuring the ${device} peak failed: ${e.message}`);
    }
  }
  console.log(header(peak));
  const all = [];
  for (const s of chosen) {
    const suiteCases = require(`./suites/${s}`)({ quick, device });
    const cases = dry ? suiteCases.slice(0, 1) : suiteCases;
    const rows = await runSideBySide(ck, cases, { ...opts, native, onRow: (r) => console.log(formatRow(r, opts.maxSpread, peak)) });
    all.push(...rows.map((r) => ({ suite: s, ...r, peakFraction: peakFraction(r, peak) })));
  }
  const date = new Date().toISOString().slice(0, 10);
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${date}-${device}${dry ? '-dry' : quick ? '-quick' : ''}-${chosen.join('+')}.json`);
  const report = { date: new Date().toISOString(), machine: m, device, threads, convkit: ck.info(), commit: gitCommit(), options: opts, peak, rows: all };
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  const svg = file.replace(/\.json$/, '.svg');
  fs.writeFileSync(svg, svgChart(all, `convkit vs PyTorch ${torchVersion(all)}, ${device}, ${threads} threads, ${m.cpu} (${date})`));
  console.log(`\nreport: ${path.relative(process.cwd(), file)} and ${path.basename(svg)}`);
}

// The commit the numbers belong to (with '-dirty' when the working tree had changes), or null outside git.
function gitCommit() {
  const { spawnSync } = require('child_process');
  const git = (...args) => spawnSync('git', args, { cwd: __dirname, encoding: 'utf8' });
  const head = git('rev-parse', 'HEAD');
  if (head.status !== 0) return null;
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== '';
  return head.stdout.trim() + (dirty ? '-dirty' : '');
}

function torchVersion(rows) {
  return rows.find((r) => r.torchVersion)?.torchVersion ?? '';
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
