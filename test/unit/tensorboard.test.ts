/**
 * ck.utils.tensorboard.SummaryWriter, read back by a reader written here from the format's documentation
 * (TensorBoard/TensorFlow are not installed here): TFRecord framing with every length and data CRC-32C
 * checked (a bitwise CRC-32C, independent of the writer's table), protobuf decoded field by field
 * (event.proto, summary.proto, histogram.proto, tensor.proto, the hparams plugin's plugin_data.proto),
 * PNG images decoded by sharp.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import * as ck from '../../lib';
import { crc32cBitwise, decodeProto as decode, Msg, readRecords } from '../helpers/tensorboard_reader';

// ---- the independent reader ---------------------------------------------------------------------------

// The reader lives in test/helpers/tensorboard_reader.ts (shared with the CLI's --tensorboard test).

const one = (m: Msg, f: number) => m.get(f)?.[0];
const str = (m: Msg, f: number) => (one(m, f) ? (one(m, f)!.v as Buffer).toString('utf8') : '');
const sub = (m: Msg, f: number) => decode(one(m, f)!.v as Buffer);
const subs = (m: Msg, f: number) => (m.get(f) ?? []).map((x) => decode(x.v as Buffer));
const dbl = (m: Msg, f: number) => (one(m, f) ? (one(m, f)!.v as Buffer).readDoubleLE(0) : 0);
const flt = (m: Msg, f: number) => (one(m, f)!.v as Buffer).readFloatLE(0);
const int = (m: Msg, f: number) => (one(m, f) ? Number(one(m, f)!.v as bigint) : 0);
const doubles = (m: Msg, f: number) => {
  const b = one(m, f)!.v as Buffer;
  return Array.from({ length: b.length / 8 }, (_, i) => b.readDoubleLE(8 * i));
};

interface Ev {
  wall: number;
  step: number;
  fileVersion: string;
  values: { tag: string; v: Msg }[];
}
function readEvents(file: string): Ev[] {
  return readRecords(file).map((r) => {
    const e = decode(r);
    return {
      wall: dbl(e, 1),
      step: int(e, 2),
      fileVersion: str(e, 3),
      values: e.has(5) ? subs(sub(e, 5), 1).map((v) => ({ tag: str(v, 1), v })) : [],
    };
  });
}
const eventFile = (dir: string) => {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
  expect(files).toHaveLength(1);
  return path.join(dir, files[0]);
};

// ---- tests --------------------------------------------------------------------------------------------

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ck-tb-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the reader\'s CRC-32C is the standard one', () => {
  expect(crc32cBitwise(Buffer.from('123456789'))).toBe(0xe3069283);
  expect(ck.utils.tensorboard.crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
});

test('scalars, scalars in one chart, histograms, images, text and hparams read back', async () => {
  const w = new ck.utils.tensorboard.SummaryWriter(dir);
  const t0 = Date.now() / 1000;
  w.addScalar('loss', 0.5, 1);
  w.addScalar('loss', ck.tensor(0.3), 2, 1234.5);
  w.addScalars('acc', { train: 0.9, test: 0.8 }, 3);
  ck.manualSeed(5);
  const values = Array.from(ck.randn([1000]).dataSync());
  w.addHistogram('weights', ck.tensor(values), 4);
  w.addHistogram('weights5', values, 4, { bins: 5 });
  const img = ck.tensor(Array.from({ length: 3 * 4 * 5 }, (_, i) => (i % 17) / 16 - 0.05)).reshape([3, 4, 5]); // CHW, a few values outside [0, 1]
  w.addImage('img', img, 5);
  w.addImage('gray', ck.tensor([[0, 128, 255], [7, 300, -3]], { dtype: 'int32' }), 5, { dataformats: 'HW' });
  w.addText('note', 'hello **markdown** ü', 6);
  w.addHparams({ lr: 0.001, opt: 'adamw', bn: true }, { 'hparam/accuracy': 0.875 }, { runName: 'hp' });
  w.close();

  const ev = readEvents(eventFile(dir));
  expect(ev[0].fileVersion).toBe('brain.Event:2');
  expect(ev[0].values).toEqual([]);
  const rest = ev.slice(1);
  expect(rest.map((e) => [e.step, e.values.map((v) => v.tag)])).toEqual([
    [1, ['loss']], [2, ['loss']], [4, ['weights']], [4, ['weights5']], [5, ['img']], [5, ['gray']], [6, ['note/text_summary']],
  ]);
  expect(rest[0].wall).toBeGreaterThanOrEqual(t0 - 1);
  expect(rest[0].wall).toBeLessThanOrEqual(Date.now() / 1000 + 1);
  expect(rest[1].wall).toBe(1234.5);
  expect(flt(rest[0].values[0].v, 2)).toBe(Math.fround(0.5));
  expect(flt(rest[1].values[0].v, 2)).toBe(Math.fround(0.3));

  // histograms: every bucket holds the values between its left and right limits (numpy's [l, r), the
  // last one closed); the first is the empty bucket before the occupied range
  for (const [k, bins] of [[2, 'tensorflow'], [3, 5]] as const) {
    const h = sub(rest[k].values[0].v, 5);
    const limits = doubles(h, 6);
    const counts = doubles(h, 7);
    expect(limits.length).toBe(counts.length);
    expect(dbl(h, 1)).toBe(Math.min(...values));
    expect(dbl(h, 2)).toBe(Math.max(...values));
    expect(dbl(h, 3)).toBe(1000);
    expect(dbl(h, 4)).toBeCloseTo(values.reduce((a, b) => a + b, 0), 9);
    expect(dbl(h, 5)).toBeCloseTo(values.reduce((a, b) => a + b * b, 0), 9);
    expect(counts[0]).toBe(0);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1000);
    for (let j = 1; j < counts.length; j++) {
      const last = j === counts.length - 1;
      const n = values.filter((v) => v >= limits[j - 1] && (last ? v <= limits[j] : v < limits[j])).length;
      expect([j, counts[j]]).toEqual([j, n]);
    }
    expect(counts[1]).toBeGreaterThan(0);
    expect(counts[counts.length - 1]).toBeGreaterThan(0);
    if (bins === 5) {
      expect(counts.length).toBe(6);
      expect(limits[0]).toBe(Math.min(...values));
      expect(limits[5]).toBe(Math.max(...values));
    } else {
      // TensorFlow's edges: 1e-12 * 1.1^k either side of 0
      for (let j = 1; j < limits.length; j++) if (limits[j - 1] > 0) expect(limits[j] / limits[j - 1]).toBeCloseTo(1.1, 9);
    }
  }

  // images: PNG, decoded by sharp
  const im = sub(rest[4].values[0].v, 4);
  expect([int(im, 1), int(im, 2), int(im, 3)]).toEqual([4, 5, 3]);
  const png = one(im, 4)!.v as Buffer;
  const dec = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  expect([dec.info.width, dec.info.height, dec.info.channels]).toEqual([5, 4, 3]);
  const chw = img.dataSync();
  const want = new Uint8Array(4 * 5 * 3);
  for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) for (let c = 0; c < 3; c++) want[(y * 5 + x) * 3 + c] = Math.trunc(Math.min(255, Math.max(0, chw[(c * 4 + y) * 5 + x] * 255)));
  expect(Array.from(dec.data)).toEqual(Array.from(want));
  const gray = sub(rest[5].values[0].v, 4);
  expect([int(gray, 1), int(gray, 2), int(gray, 3)]).toEqual([2, 3, 3]);
  const g = await sharp(one(gray, 4)!.v as Buffer).raw().toBuffer();
  expect(Array.from(g)).toEqual([0, 128, 255, 7, 255, 0].flatMap((v) => [v, v, v]));

  // text: the text plugin's DT_STRING tensor of shape [1]
  const text = rest[6].values[0].v;
  expect(str(sub(sub(text, 9), 1), 1)).toBe('text');
  const tensor = sub(text, 8);
  expect(int(tensor, 1)).toBe(7);
  expect(int(sub(sub(tensor, 2), 2), 1)).toBe(1);
  expect(str(tensor, 8)).toBe('hello **markdown** ü');

  // addScalars: one run folder per series, each under the main tag
  for (const [k, v] of [['train', 0.9], ['test', 0.8]] as const) {
    const se = readEvents(eventFile(path.join(dir, `acc_${k}`)));
    expect(se[0].fileVersion).toBe('brain.Event:2');
    expect(se.slice(1).map((e) => [e.step, e.values[0].tag, flt(e.values[0].v, 2)])).toEqual([[3, 'acc', Math.fround(v)]]);
  }

  // hparams: experiment, session start, session end (plugin 'hparams'), then the metric as a scalar
  const hp = readEvents(eventFile(path.join(dir, 'hp'))).slice(1);
  expect(hp.map((e) => e.values[0].tag)).toEqual(['_hparams_/experiment', '_hparams_/session_start_info', '_hparams_/session_end_info', 'hparam/accuracy']);
  const plugin = (e: Ev) => {
    const pd = sub(sub(e.values[0].v, 9), 1);
    expect(str(pd, 1)).toBe('hparams');
    return decode(one(pd, 2)!.v as Buffer);
  };
  const exp = sub(plugin(hp[0]), 2);
  expect(subs(exp, 4).map((i) => [str(i, 1), int(i, 4)])).toEqual([['lr', 3], ['opt', 1], ['bn', 2]]);
  expect(subs(exp, 5).map((i) => str(sub(i, 1), 2))).toEqual(['hparam/accuracy']);
  const ssi = sub(plugin(hp[1]), 3);
  const entries = subs(ssi, 1).map((e) => [str(e, 1), sub(e, 2)] as const);
  expect(entries.map(([k]) => k)).toEqual(['lr', 'opt', 'bn']);
  expect(dbl(entries[0][1], 2)).toBe(0.001);
  expect(str(entries[1][1], 3)).toBe('adamw');
  expect(int(entries[2][1], 4)).toBe(1);
  expect(int(sub(plugin(hp[2]), 4), 1)).toBe(1); // STATUS_SUCCESS
  expect(flt(hp[3].values[0].v, 2)).toBe(Math.fround(0.875));
});

test('events wait in a queue of maxQueue and are written in order by flush and close', () => {
  const w = new ck.utils.tensorboard.SummaryWriter(dir, { maxQueue: 3 });
  const file = eventFile(dir);
  expect(readEvents(file)).toHaveLength(1); // the file_version event is on disk at once
  w.addScalar('a', 1, 1);
  w.addScalar('a', 2, 2);
  expect(readEvents(file)).toHaveLength(1);
  w.addScalar('a', 3, 3);
  expect(readEvents(file)).toHaveLength(4);
  w.addScalar('a', 4, 4);
  w.flush();
  expect(readEvents(file).slice(1).map((e) => flt(e.values[0].v, 2))).toEqual([1, 2, 3, 4]);
  w.addScalar('a', 5, 5);
  w.close();
  expect(readEvents(file)).toHaveLength(6);
  expect(() => w.addScalar('a', 6, 6)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
});

test('bad input is a coded error', () => {
  const w = new ck.utils.tensorboard.SummaryWriter(dir);
  try {
    expect(() => w.addImage('x', ck.zeros([2, 4, 4]))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => w.addImage('x', ck.zeros([4, 4]))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => w.addHistogram('h', [1, NaN])).toThrow(expect.objectContaining({ code: 'ERR_DATA' }));
    expect(() => w.addHistogram('h', [])).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
    expect(() => w.addScalar('s', ck.zeros([2]))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => w.addScalar('s', 1, 1.5)).toThrow(expect.objectContaining({ code: 'ERR_ARG' }));
  } finally {
    w.close();
  }
});
