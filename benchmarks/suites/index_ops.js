// The index family (lib/ops/indexing.ts) against PyTorch: cat (an Inception block's four branches along
// channels), where with a broadcast condition, gather forward + backward, index_select (an embedding-style
// row lookup), sort and topk (top-5 over 1000 class scores).
'use strict';

module.exports = function indexOpsCases({ quick, device }) {
  const N = quick ? 32 : 128;
  const numel = (s) => s.reduce((a, b) => a * b, 1);
  const cases = [];
  const br = [N, 64, 14, 14];
  cases.push({
    name: 'cat', twin: 'cat', shape: `4x${br.join('x')} d1`, params: { shape: br, n: 4 }, bytes: 8 * 4 * numel(br),
    setup(ck) {
      ck.manualSeed(0);
      const xs = [0, 1, 2, 3].map(() => ck.randn(br, { device }));
      return { run() { ck.ops.cat(xs, 1).dispose(); }, dispose() { for (const t of xs) t.dispose(); } };
    },
  });
  const act = quick ? [N, 64, 16, 16] : [N, 64, 32, 32];
  cases.push({
    name: 'where', twin: 'where', shape: `${act.join('x')} c[C,H,W]`, params: { shape: act }, bytes: 12 * numel(act),
    setup(ck) {
      ck.manualSeed(0);
      const a = ck.randn(act, { device });
      const b = ck.randn(act, { device });
      const c = ck.randn(act.slice(1), { device }).gt(0);
      return { run() { ck.ops.where(c, a, b).dispose(); }, dispose() { for (const t of [a, b, c]) t.dispose(); } };
    },
  });
  const scores = [N, 1000];
  cases.push({
    name: 'gather f+b', twin: 'gather_fwd_bwd', shape: `${scores.join('x')} i[${N},100]`, params: { shape: scores, k: 100 },
    setup(ck) {
      ck.manualSeed(0);
      const x = ck.randn(scores, { device }).requiresGrad_();
      const i = ck.randint(0, 1000, [N, 100], { device, dtype: 'int32' });
      return {
        run() {
          ck.tidy(() => x.gather(1, i).sum().backward());
          x.grad?.dispose();
          x.grad = null;
        },
        dispose() { x.dispose(); i.dispose(); },
      };
    },
  });
  const table = [quick ? 10000 : 50000, 128];
  cases.push({
    name: 'indexSelect', twin: 'index_select', shape: `${table.join('x')} i[4096]`, params: { shape: table, k: 4096 }, bytes: 8 * 4096 * 128,
    setup(ck) {
      ck.manualSeed(0);
      const x = ck.randn(table, { device });
      const i = ck.randint(0, table[0], [4096], { device, dtype: 'int32' });
      return { run() { x.indexSelect(0, i).dispose(); }, dispose() { x.dispose(); i.dispose(); } };
    },
  });
  for (const [name, twin] of [['sort', 'sort'], ['topk k5', 'topk']]) {
    cases.push({
      name, twin, shape: scores.join('x'), params: { shape: scores, k: 5 },
      setup(ck) {
        ck.manualSeed(0);
        const x = ck.randn(scores, { device });
        const run = twin === 'sort' ? () => x.sort(1) : () => x.topk(5);
        return { run() { const r = run(); r.values.dispose(); r.indices.dispose(); }, dispose() { x.dispose(); } };
      },
    });
  }
  return cases;
};
