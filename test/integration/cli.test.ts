/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The `convkit` command as a user runs it (node dist/cli/main.js, a child process) on small slices of
 * the shipped Fashion-MNIST subset: the run folder's files, weights that load back, the report's
 * curves (in the markup and rendered by headless Chromium), Ctrl-C and --resume continuing the same curve
 * with the same numbers, eval/info/summary, and every example under its small settings. Needs the native
 * CPU binary and chromium-headless-shell; builds dist/ and the examples.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ck from '../../lib';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const env = { ...process.env, CONVKIT_QUIET: '1', CONVKIT_BINARY: process.env.CONVKIT_BINARY ?? 'cpu', CONVKIT_EXAMPLE_SMALL: '1' };
const SMALL = ['--limit-train', '256', '--limit-test', '128', '--batch-size', '64'];
let work = '';

function convkit(args: string[], timeout = 120000) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, env, encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const readMetrics = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

beforeAll(() => {
  // The CLI and the examples run compiled, as users run them.
  for (const project of ['tsconfig.build.json', 'tsconfig.examples.json']) {
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tsc -p ${project} failed:\n${r.stdout}${r.stderr}`);
  }
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-cli-'));
}, 180000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/**
 * report.html's SVG curves, from the markup: tags must nest, each chart is an <svg> with a viewBox, and
 * each curve is a <path> whose d is a valid M/L polyline with every point inside that viewBox.
 */
function svgPaths(html: string): { series: string; points: [number, number][] }[] {
  const stack: string[] = [];
  const out: { series: string; points: [number, number][] }[] = [];
  let view: number[] | null = null;
  const voidTags = new Set(['meta', 'br', 'hr', 'img', 'input', 'link']);
  const tagRe = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+(?:="[^"]*")?)*)\s*(\/?)>|<!doctype[^>]*>/g;
  let m: RegExpExecArray | null;
  while ((m = tagRe.exec(html))) {
    if (!m[2]) continue;
    const [, close, tagRaw, attrText, selfClose] = m;
    const tag = tagRaw.toLowerCase();
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    if (close) {
      const top = stack.pop();
      if (top !== tag) throw new Error(`</${tag}> closes <${top}>`);
      continue;
    }
    if (tag === 'svg') view = attrs.viewBox.split(' ').map(Number);
    if (tag === 'path') {
      expect(stack).toContain('svg');
      const cmds = attrs.d.trim().split(/\s*(?=[ML])/);
      const points = cmds.map((c, i) => {
        const mm = /^([ML])(-?[\d.]+) (-?[\d.]+)$/.exec(c);
        if (!mm) throw new Error(`bad path command '${c}'`);
        expect(mm[1]).toBe(i === 0 ? 'M' : 'L');
        const p: [number, number] = [Number(mm[2]), Number(mm[3])];
        expect(p[0]).toBeGreaterThanOrEqual(0);
        expect(p[0]).toBeLessThanOrEqual(view![2]);
        expect(p[1]).toBeGreaterThanOrEqual(0);
        expect(p[1]).toBeLessThanOrEqual(view![3]);
        return p;
      });
      out.push({ series: attrs['data-series'], points });
    }
    if (!selfClose && !voidTags.has(tag)) stack.push(tag);
  }
  expect(stack).toEqual([]);
  return out;
}

/**
 * report.html as a browser shows it: headless Chromium (Debian's chromium-headless-shell, which .ci/run
 * installs; CONVKIT_CHROMIUM names another) opens the file, and for every chart this returns its laid-out
 * size, and for every curve its point count, rendered length, box, and how many screenshot pixels carry
 * its colour. A missing browser fails the test with what to install; it is never skipped.
 */
async function renderInBrowser(file: string) {
  const candidates = [process.env.CONVKIT_CHROMIUM, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].filter((p): p is string => !!p);
  const exe = candidates.find((p) => fs.existsSync(p));
  if (!exe) throw new Error(`no headless browser for the report test: tried ${candidates.join(', ')}; apt-get install chromium-headless-shell (or set CONVKIT_CHROMIUM)`);
  const { chromium } = await import('playwright-core');
  const sharp = (await import('sharp')).default;
  const browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto('file://' + file);
    const charts = await page.evaluate(() =>
      [...document.querySelectorAll('svg')].map((svg) => {
        const box = svg.getBoundingClientRect();
        const curves = [...svg.querySelectorAll('path.series')].map((p) => {
          const el = p as SVGPathElement;
          const b = el.getBoundingClientRect();
          const style = getComputedStyle(el);
          return {
            series: el.dataset.series ?? '', points: (el.getAttribute('d') ?? '').split(/[ML]/).filter((t: string) => t.trim()).length,
            length: el.getTotalLength(), box: { x: b.x, y: b.y, w: b.width, h: b.height }, stroke: style.stroke, visible: style.visibility === 'visible' && style.display !== 'none',
          };
        });
        return { title: svg.getAttribute('aria-label') ?? '', box: { x: box.x, y: box.y, w: box.width, h: box.height }, curves };
      }),
    );
    const out = [];
    for (const [i, chart] of charts.entries()) {
      const png = await page.locator('svg').nth(i).screenshot();
      const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      const curves = chart.curves.map((c) => {
        const [r, g, b] = (c.stroke.match(/\d+/g) ?? []).map(Number);
        let pixels = 0;
        for (let k = 0; k < data.length; k += info.channels) {
          if (Math.abs(data[k] - r) < 24 && Math.abs(data[k + 1] - g) < 24 && Math.abs(data[k + 2] - b) < 24) pixels++;
        }
        return { ...c, pixels };
      });
      out.push({ ...chart, curves });
    }
    return out;
  } finally {
    await browser.close();
  }
}

describe('convkit train', () => {
  let run = '';
  let result: ReturnType<typeof convkit>;
  beforeAll(() => {
    run = path.join(work, 'tiny');
    result = convkit(['train', '--epochs', '1', ...SMALL, '--out', run]);
  });

  it('trains, prints the epoch line and the final accuracy', () => {
    expect(result.stderr).not.toMatch(/Error|at .*\.js:\d+/);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/epoch 1\/1 {2}train loss \d+\.\d+ acc [\d.]+% {2}test loss \d+\.\d+ acc [\d.]+% {2}lr /);
    expect(result.stdout).toMatch(/Final test accuracy: [\d.]+%/);
  });

  it('writes metrics.jsonl, one line per epoch', () => {
    const m = readMetrics(run);
    expect(m.map((e: { epoch: number }) => e.epoch)).toEqual([1]);
    for (const k of ['train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr', 'time_s', 'images_per_s']) expect(Number.isFinite(m[0][k])).toBe(true);
    expect(m[0].lr).toBeCloseTo(1e-3, 8);
  });

  it('writes final and best weights that load back with PyTorch keys', () => {
    const model = ck.models.cifar10Net({ inChannels: 1 });
    const keys = Object.keys(model.stateDict());
    for (const f of ['final.safetensors', 'best.safetensors']) {
      const w = ck.io.loadSafetensors(path.join(run, f));
      try {
        expect([...w.tensors.keys()].sort()).toEqual([...keys].sort());
        expect(w.tensors.get('features.0.weight')!.shape).toEqual([32, 1, 3, 3]);
        expect(w.dtypes.get('features.1.num_batches_tracked')).toBe('I64');
        expect(w.metadata['convkit.model']).toBe('cifar10Net');
        model.loadStateDict(w.tensors);
      } finally {
        w.dispose();
      }
    }
    expect(fs.readdirSync(run).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('writes report.html with the loss, accuracy and learning-rate curves as SVG paths', () => {
    const html = fs.readFileSync(path.join(run, 'report.html'), 'utf8');
    const paths = svgPaths(html);
    expect(paths.map((p) => p.series)).toEqual(['train', 'test', 'train', 'test', 'lr']);
    expect((html.match(/<svg /g) ?? []).length).toBe(4);
    expect(html).toContain('Total params: 140,778'); // the CIFAR-10 CNN on 1-channel input, as PyTorch counts it
    expect(html).toMatch(/<th>optimizer<\/th><td>adamw<\/td>/);
  });

  it('report.html renders in a headless browser: three charts, five curves, each drawn in its colour', async () => {
    const charts = await renderInBrowser(path.join(run, 'report.html'));
    expect(charts.map((c) => c.title)).toEqual(['Loss', 'Accuracy (%)', 'Learning rate', 'Step time']);
    expect(charts.flatMap((c) => c.curves.map((k) => k.series))).toEqual(['train', 'test', 'train', 'test', 'lr']);
    for (const c of charts) {
      expect(c.box.w).toBeGreaterThan(100);
      expect(c.box.h).toBeGreaterThan(100);
      for (const k of c.curves) {
        expect(k.visible).toBe(true);
        expect(k.points).toBe(2); // one epoch: a lone point, drawn as its marker
        expect(k.pixels).toBeGreaterThan(0);
      }
    }
  }, 60000);

  it('eval reports accuracy and a confusion matrix for the weights', () => {
    const r = convkit(['eval', '--weights', path.join(run, 'final.safetensors'), '--limit-test', '128', '--json']);
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.model).toBe('cifar10Net');
    expect(e.images).toBe(128);
    expect(e.confusion.flat().reduce((a: number, v: number) => a + v, 0)).toBe(128);
    const trained = readMetrics(run)[0].test_acc;
    expect(e.acc).toBeCloseTo(trained, 6);
    const text = convkit(['eval', '--weights', path.join(run, 'final.safetensors'), '--limit-test', '128']);
    expect(text.stdout).toMatch(/accuracy [\d.]+%/);
    expect(text.stdout).toMatch(/confusion matrix/);
    expect(text.stdout).toMatch(/Ankle boot/);
  });

  it('refuses to overwrite a run folder, with a one-line message', () => {
    const r = convkit(['train', '--epochs', '1', ...SMALL, '--out', run]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^convkit: --out .* already holds a run; continue it with --resume .*, or choose another folder \(ERR_RUN_EXISTS\)\n$/);
    expect(fs.readdirSync(run).filter((f) => f.startsWith('.convkit'))).toEqual([]); // the lock it took is released
  });
});

describe('resume', () => {
  const common = ['--epochs', '3', '--limit-train', '640', '--limit-test', '128', '--batch-size', '64', '--seed', '7'];

  it('after Ctrl-C, --resume continues the same curve, to the same numbers as an uninterrupted run', async () => {
    const dir = path.join(work, 'interrupted');
    const child = spawn(process.execPath, [cli, 'train', ...common, '--json', '--out', dir], { cwd: work, env });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      // Ctrl-C during epoch 2: the checkpoint then holds a position inside an epoch.
      if (!sent && stdout.includes('"event":"epoch"')) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 150);
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', res));
    // The position named is where training stopped: inside epoch 2 (not "after epoch 1"), or at an epoch's end.
    expect(stderr).toMatch(/\ninterrupted (in epoch 2 after batch \d+|after epoch \d+): checkpoint saved in .*; continue with: convkit train --resume/);
    expect(code).toBe(130);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events[events.length - 1].event).toBe('interrupted');
    const before = readMetrics(dir).map((e: { epoch: number }) => e.epoch);
    expect(before[0]).toBe(1);
    expect(fs.existsSync(path.join(dir, 'checkpoint.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'final.safetensors'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'report.html'), 'utf8')).toMatch(/interrupted (in epoch 2 after batch \d+|after epoch \d+); resume with/);

    const resumed = convkit(['train', '--resume', dir, '--quiet']);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    const after = readMetrics(dir);
    expect(after.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3]);
    expect(svgPaths(fs.readFileSync(path.join(dir, 'report.html'), 'utf8'))[0].points).toHaveLength(3);
    // In the browser, every curve of the resumed run is one line through its three epochs.
    for (const c of await renderInBrowser(path.join(dir, 'report.html'))) {
      for (const k of c.curves) {
        expect(k.points).toBe(3);
        expect(k.length).toBeGreaterThan(20);
        expect(k.box.x).toBeGreaterThanOrEqual(c.box.x);
        expect(k.box.x + k.box.w).toBeLessThanOrEqual(c.box.x + c.box.w);
        expect(k.box.y).toBeGreaterThanOrEqual(c.box.y);
        expect(k.box.y + k.box.h).toBeLessThanOrEqual(c.box.y + c.box.h);
        // legend swatch (100 px) and markers aside, the stroked line itself shows in the screenshot
        expect(k.pixels).toBeGreaterThan(100 + 0.5 * k.length);
      }
    }

    const straight = path.join(work, 'straight');
    expect(convkit(['train', ...common, '--quiet', '--out', straight]).status).toBe(0);
    const ref = readMetrics(straight);
    after.forEach((e: Record<string, number>, i: number) => {
      for (const k of ['train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr']) expect(e[k]).toBeCloseTo(ref[i][k], 5);
    });
  }, 120000);

  it('--resume refuses settings that would make it another run', () => {
    const r = convkit(['train', '--resume', path.join(work, 'straight'), '--lr', '0.1']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^convkit: --resume continues a run with its own settings; drop --lr \(ERR_ARG\)\n$/);
  });
});

describe('other commands', () => {
  it('info names the version, binary, flavour and why', () => {
    const r = convkit(['info']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^convkit \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/flavour: {2}(cpu|cuda|emu) - /);
    expect(r.stdout).toMatch(/threads: {2}\d+/);
    expect(r.stdout).toMatch(/memory: /);
    const j = JSON.parse(convkit(['info', '--json']).stdout);
    expect(j.flavour).toBe(ck.info().flavour);
  });

  it('summary prints the per-layer table of resnet18', () => {
    const r = convkit(['summary', '--model', 'resnet18']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/layer4\.1\.bn2 \(BatchNorm2d\) +\[1, 512, 7, 7\]/);
    expect(r.stdout).toContain('Total params: 11,689,512');
  });

  it('unknown models and bad data paths are one-line errors', () => {
    const r = convkit(['summary', '--model', 'resnet9']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^convkit: unknown model 'resnet9'; the zoo has: .* \(ERR_ARG\)\n$/);
    const d = convkit(['train', '--data', path.join(work, 'nope'), '--out', path.join(work, 'nope-run')]);
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/^convkit: --data .*nope: no such file or folder \(ERR_ARG\)\n$/);
    expect(fs.existsSync(path.join(work, 'nope-run'))).toBe(false); // a failed run leaves no empty run folder
    // commander's own refusals carry the code too (the help follows them)
    const o = convkit(['train', '--epochs', 'x']);
    expect(o.status).toBe(1);
    expect(o.stderr).toMatch(/^convkit: option '--epochs <n>' argument 'x' is invalid\. expected an integer >= 1 \(ERR_ARG\)\n/);
  });

  it('convert turns a PyTorch-style checkpoint into safetensors', () => {
    // A .safetensors input goes through the same writer; .pth parsing itself is io's own tests' job.
    const src = path.join(work, 'tiny', 'final.safetensors');
    const dst = path.join(work, 'converted.safetensors');
    const r = convkit(['convert', src, dst]);
    expect(r.status).toBe(0);
    const w = ck.io.loadSafetensors(dst);
    expect(w.tensors.size).toBe(ck.io.loadSafetensors(src).tensors.size);
    // and back to torch.save's format when the output is named .pth, read by content whatever its name
    const pth = path.join(work, 'converted.pth');
    expect(convkit(['convert', dst, pth]).status).toBe(0);
    const back = ck.io.loadTorch(pth);
    expect([...back.tensors.keys()]).toEqual([...w.tensors.keys()]);
    for (const [k, t] of w.tensors) expect(Array.from(back.tensors.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
    back.dispose();
    w.dispose();
  });
});

describe('examples (small settings)', () => {
  const example = (name: string) => {
    const r = spawnSync(process.execPath, [path.join(root, 'build-examples', 'run.js'), name], { cwd: root, env, encoding: 'utf8', timeout: 120000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout;
  };
  const acc = String.raw`\d+\.\d\d%`;

  it('lists the examples', () => {
    expect(example('')).toMatch(/usage: npm run example -- <name>[\s\S]*receptive_field/);
  });

  it('architecture_timeline', () => {
    const out = example('architecture_timeline');
    expect(out).toMatch(/LeNet-5 .* 61,706\n/);
    expect(out).toMatch(/AlexNet .* 61,100,840\n/);
    expect(out).toMatch(/ResNet-18 .* 11,689,512\n/);
    expect(out).toMatch(/ResNet-50 .* 25,557,032\n/);
    expect(out).toMatch(/ResNet-101 .* 44,549,160\n/);
    expect(out).toMatch(/ResNet-152 .* 60,192,808\n/);
    expect(out).toMatch(/GoogLeNet \(Inception v1\) .* 6,624,904\n/);
    expect(out).toMatch(/GoogLeNet \+ aux classifiers .* 13,004,888\n/);
    expect(out).toMatch(/MobileNetV2 .* 3,504,872\n/);
    expect(out).toMatch(/Inception v3 .* 23,834,568\n/);
    expect(out).toContain('two 3x3: 2 x (3*3*64*64 + 64) = 73,856');
    expect(out).toContain('one 5x5:      5*5*64*64 + 64  = 102,464');
    expect(out).toContain('receptive field of the two 3x3: 5x5');
    expect(out).toContain('20 blocks: 1,479,680 parameters, 40 conv layers');
    expect(out).toContain('input [2, 64, 8, 8] -> output [2, 64, 8, 8]');
  });

  it('train_cifar10_cnn', () => {
    const out = example('train_cifar10_cnn');
    expect(out).toMatch(/CIFAR-10 CNN: 140,778 parameters, on the shipped Fashion-MNIST subset \(512 train \/ 256 test\)/);
    expect(out).toMatch(new RegExp(`epoch 1/1  train loss \\d+\\.\\d+  train acc ${acc}  test acc ${acc}  lr 1\\.00e-3`));
    expect(out).toMatch(new RegExp(`Final test accuracy: ${acc}`));
  });

  it('batchnorm_shapes', () => {
    const out = example('batchnorm_shapes');
    expect(out).toMatch(/BatchNorm2d\(16\) on input of shape \[8, 16, 32, 32\]/);
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) expect(out).toMatch(new RegExp(`${k} +shape \\[16\\]`));
    expect(out).toMatch(/num_batches_tracked +shape \[\]/);
    expect(out).toContain('output shape        [8, 16, 32, 32]  (unchanged)');
    expect(out).toContain('per-channel std of the output:  1.000 to 1.000');
    expect(out).toContain('running_mean after one batch: 0.500');
  });

  it('mini_vgg', () => {
    const out = example('mini_vgg');
    expect(out).toContain('mini-VGG: 1,148,618 parameters (the CIFAR-10 CNN: 140,778)');
    expect(out).toMatch(new RegExp(`Final test accuracy: ${acc}`));
  });

  it('transfer_learning', () => {
    const out = example('transfer_learning');
    expect(out).toMatch(/backbone: ResNet-18 \(11,175,370 parameters\) trained on classes 0-4/);
    expect(out).toMatch(new RegExp(`frozen backbone: +5,130 trainable parameters  test accuracy ${acc}`));
    expect(out).toMatch(new RegExp(`fully unfrozen: +11,175,370 trainable parameters  test accuracy ${acc}  \\(lrs 1e-5 / 5e-5 / 1e-4 / 1e-3\\)`));
  });

  it('count_by_type', () => {
    const out = example('count_by_type');
    expect(out).toMatch(/mini-VGG .*: 1,149,770 parameters/);
    expect(out).toMatch(/Conv2d +6 +1,145,408 +99\.6%/);
    expect(out).toMatch(/ResNet-18 \(1000 classes\): 11,689,512 parameters/);
    expect(out).toMatch(/Conv2d +20 +11,166,912 +95\.5%/);
    expect(out).toMatch(/BatchNorm2d +20 +9,600/);
    expect(out).toMatch(/Linear +1 +513,000/);
  });

  it('conv_by_hand', () => {
    const out = example('conv_by_hand');
    expect(out).toContain('ck conv2d:      [2, 4, 4, 4]');
    expect(out).toMatch(/max \|difference\|: .* -> match/);
  });

  it('shape_tracing', () => {
    const out = example('shape_tracing');
    expect(out).toMatch(/features\.13 +MaxPool2d +-> \[1, 64, 8, 8\]/);
    expect(out).toMatch(/features\.17 +AdaptiveAvgPool2d -> \[1, 128, 1, 1\]/);
    expect(out).toMatch(/classifier\.1 +Linear +-> \[1, 10\]/);
    expect(out).toContain('Total params: 61,706');
  });

  it('receptive_field', () => {
    const out = example('receptive_field');
    expect(out).toMatch(/conv5 +3 +1 +1 +8 +24 +4/);
    expect(out).toMatch(/l1\.1\.c2 +3 +1 +1 +56 +43 +4/);
    expect(out).toContain('Five stacked 3x3 convolutions see 11x11 pixels');
  });
});
