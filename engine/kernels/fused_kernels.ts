/**
 * Kernel bodies of the fused ops (engine/kernels/fused_ops.ts), written in TS over
 * tensor memory (engine/kernels/js_kernels.ts) for the wasm and cpu backends. Each
 * replaces a chain of tfjs kernels by one pass over rows; sums are kept in
 * float64. The heavy loops are chunked tasks (engine/kernels/kernel_tasks.ts) that
 * run on all kernel threads (engine/kernels/thread_pool.ts), as native code where
 * engine/kernels/native.ts loaded their C twins. Attention calls OpenBLAS
 * (engine/kernels/blas.ts) on strided head views, so q, k, v never get transposed.
 * Importing this module registers the kernels.
 *
 * Shapes: a "row" is the last axis (length n); rows = size / n.
 */
import { defineKernel } from "./js_kernels.ts";
import { getBlasThreads, setBlasThreads } from "./blas.ts";
import { causalSplit, dot, reduceParts, rowEnds } from "./kernel_tasks.ts";
import { parallel } from "./thread_pool.ts";

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const last = (shape: number[]) => shape[shape.length - 1];

/**
 * Chunks of a row task: 16 from 2^19 elements on (below, waking a worker
 * costs about what it saves: measured at width 128), else 1. Depends on the
 * size only, so results do not depend on the thread count.
 */
function chunksFor(elements: number, units: number): number {
  return elements < 1 << 19 ? 1 : Math.min(16, units);
}

// --- Row normalization: y = x / sqrt(ms * sum(x^2) + eps) ------------------
// unitNorm: ms = 1, eps = 0 (nGPT's Norm). rmsNorm: ms = 1/n.

defineKernel("DmodelRowNorm", (mem, { x }, { ms, eps }: { ms: number; eps: number }) => {
  const n = last(x.shape), rows = size(x.shape) / n;
  const y = mem.out(x.shape), inv = mem.out([rows]);
  parallel("rowNorm", [mem.f32(x), mem.f32(y), mem.f32(inv)], [n, ms, eps], rows, chunksFor(rows * n, rows));
  return [y, inv];
});

// dx = inv * (dy - ms * y * sum(y * dy))
defineKernel("DmodelRowNormGrad", (mem, { dy, y, inv }, { ms }: { ms: number }) => {
  const n = last(y.shape), rows = size(y.shape) / n;
  const dx = mem.out(y.shape);
  const arrays = [mem.f32(dy), mem.f32(y), mem.f32(inv), mem.f32(dx)];
  parallel("rowNormGrad", arrays, [n, ms], rows, chunksFor(rows * n, rows));
  return dx;
});

// --- LERP on the sphere: y = Norm(h + |a| (t - h)) (nGPT eq. 10-11) --------

defineKernel("DmodelLerpNorm", (mem, { h, t, a }) => {
  const n = last(h.shape), rows = size(h.shape) / n;
  const y = mem.out(h.shape), inv = mem.out([rows]);
  const hv = mem.f32(h), tv = mem.f32(t), av = mem.f32(a), yv = mem.f32(y), iv = mem.f32(inv);
  const abs = new Float64Array(n);
  for (let j = 0; j < n; j++) abs[j] = Math.abs(av[j]);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    let s0 = 0, s1 = 0, j = 0;
    for (; j + 1 < n; j += 2) {
      const z0 = hv[o + j] + abs[j] * (tv[o + j] - hv[o + j]);
      const z1 = hv[o + j + 1] + abs[j + 1] * (tv[o + j + 1] - hv[o + j + 1]);
      yv[o + j] = z0, yv[o + j + 1] = z1;
      s0 += z0 * z0, s1 += z1 * z1;
    }
    for (; j < n; j++) {
      const z = hv[o + j] + abs[j] * (tv[o + j] - hv[o + j]);
      yv[o + j] = z, s0 += z * z;
    }
    const k = 1 / Math.sqrt(s0 + s1);
    iv[r] = k;
    for (let j = 0; j < n; j++) yv[o + j] *= k;
  }
  return [y, inv];
});

// dz = inv (dy - y sum(y dy)); dh = dz (1 - |a|); dt = dz |a|; da = sign(a) sum_rows dz (t - h)
defineKernel("DmodelLerpNormGrad", (mem, { dy, y, inv, h, t, a }) => {
  const n = last(h.shape), rows = size(h.shape) / n;
  const dh = mem.out(h.shape), dt = mem.out(h.shape), da = mem.out(a.shape);
  const dyv = mem.f32(dy),
    yv = mem.f32(y),
    iv = mem.f32(inv),
    hv = mem.f32(h),
    tv = mem.f32(t),
    av = mem.f32(a);
  const dhv = mem.f32(dh), dtv = mem.f32(dt), dav = mem.f32(da);
  const abs = new Float64Array(n), acc = new Float64Array(n);
  for (let j = 0; j < n; j++) abs[j] = Math.abs(av[j]);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    const c = dot(yv, o, dyv, o, n), k = iv[r];
    for (let j = 0; j < n; j++) {
      const dz = k * (dyv[o + j] - c * yv[o + j]);
      dhv[o + j] = dz * (1 - abs[j]);
      dtv[o + j] = dz * abs[j];
      acc[j] += dz * (tv[o + j] - hv[o + j]);
    }
  }
  // d|a|/da as tfjs's Abs gradient: 1 for a > 0, else -1.
  for (let j = 0; j < n; j++) dav[j] = av[j] > 0 ? acc[j] : -acc[j];
  return [dh, dt, da];
});

// --- LERP toward a normalized target: y = Norm(h + |a| (Norm(u) - h)) -------
// nGPT's block output h_A = Norm(y W_o) feeds only the LERP: one kernel for both.

defineKernel("DmodelLerpNormTo", (mem, { h, u, a }) => {
  const n = last(h.shape), rows = size(h.shape) / n;
  const y = mem.out(h.shape), inv = mem.out([rows]), invU = mem.out([rows]);
  const arrays = [mem.f32(h), mem.f32(u), mem.f32(a), mem.f32(y), mem.f32(inv), mem.f32(invU)];
  parallel("lerpNormTo", arrays, [n], rows, chunksFor(rows * n, rows));
  return [y, inv, invU];
});

// dz = inv (dy - y sum(y dy)); dh = dz (1 - |a|); dt = dz |a|, t = u invU;
// du = invU (dt - t sum(t dt)); da = sign(a) sum_rows dz (t - h).
// sum(t dt) = inv (sum(t |a| dy) - sum(y dy) sum(t |a| y)): all three sums in one first pass.
defineKernel("DmodelLerpNormToGrad", (mem, { dy, y, inv, h, u, invU, a }) => {
  const n = last(h.shape), rows = size(h.shape) / n, chunks = chunksFor(rows * n, rows);
  const dh = mem.out(h.shape), du = mem.out(h.shape), da = mem.out(a.shape);
  const part = new Float64Array(chunks * n);
  const av = mem.f32(a);
  const arrays = [mem.f32(dy), mem.f32(y), mem.f32(inv), mem.f32(h), mem.f32(u), mem.f32(invU), av];
  parallel("lerpNormToGrad", [...arrays, mem.f32(dh), mem.f32(du), part], [n], rows, chunks);
  // d|a|/da as tfjs's Abs gradient: 1 for a > 0, else -1.
  reduceParts(part, chunks, n, mem.f32(da), 1, av);
  return [dh, du, da];
});

// --- RoPE on x [B, T, H, dk] with tables cos, sin [T, (1,) dk] --------------
// Pairs (x0, x1) = (x[2i], x[2i+1]): r0 = x0 cos0 + x1 sin0, r1 = x1 cos1 + x0 sin1
// (sin0 = -sin, sin1 = +sin, engine/nn/ops.ts ropeTables). The inverse (the
// gradient) swaps sin0 and sin1.

function ropeRows(
  xv: Float32Array,
  out: Float32Array,
  cv: Float32Array,
  sv: Float32Array,
  shape: number[],
  inverse: boolean,
): void {
  const [B, T, H, dk] = shape;
  // The inverse reads sin1 where the forward reads sin0 and vice versa.
  const i0 = inverse ? 1 : 0, i1 = 1 - i0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tab = t * dk;
      for (let h = 0, o = (b * T + t) * H * dk; h < H; h++, o += dk) {
        for (let i = 0; i < dk; i += 2) {
          const x0 = xv[o + i], x1 = xv[o + i + 1];
          out[o + i] = x0 * cv[tab + i] + x1 * sv[tab + i + i0];
          out[o + i + 1] = x1 * cv[tab + i + 1] + x0 * sv[tab + i + i1];
        }
      }
    }
  }
}

defineKernel("DmodelRope", (mem, { x, cos, sin }, { inverse }: { inverse: boolean }) => {
  const y = mem.out(x.shape);
  ropeRows(mem.f32(x), mem.f32(y), mem.f32(cos), mem.f32(sin), x.shape, !!inverse);
  return y;
});

// --- q/k path of nGPT: y = Norm_head(RoPE(x)) * s, s of length H*dk ---------

defineKernel("DmodelRopeNormScale", (mem, { x, cos, sin, s }) => {
  const [B, T, H, dk] = x.shape;
  const y = mem.out(x.shape), nrm = mem.out(x.shape), inv = mem.out([B * T * H]);
  const arrays = [mem.f32(x), mem.f32(cos), mem.f32(sin), mem.f32(s), mem.f32(y), mem.f32(nrm), mem.f32(inv)];
  parallel("ropeNormScale", arrays, [T, H, dk], B * T, chunksFor(B * T * H * dk, B * T));
  return [y, nrm, inv];
});

// dn = dy s; ds = sum over (B, T) of dy n; dr = inv (dn - n sum(n dn)); dx = RoPE^-1(dr)
defineKernel("DmodelRopeNormScaleGrad", (mem, { dy, nrm, inv, s, cos, sin }) => {
  const [B, T, H, dk] = nrm.shape, hd = H * dk, chunks = chunksFor(B * T * hd, B * T);
  const dx = mem.out(nrm.shape), ds = mem.out(s.shape);
  const part = new Float64Array(chunks * hd);
  const arrays = [
    mem.f32(dy),
    mem.f32(nrm),
    mem.f32(inv),
    mem.f32(s),
    mem.f32(cos),
    mem.f32(sin),
    mem.f32(dx),
  ];
  parallel("ropeNormScaleGrad", [...arrays, part], [T, H, dk], B * T, chunks);
  reduceParts(part, chunks, hd, mem.f32(ds));
  return [dx, ds];
});

// --- SwiGLU gradient: g = (a s_u) * SiLU(nu), nu = b s_nu c, sg = sigmoid(nu) ---
// (The forward runs tfjs's SIMD kernels: engine/kernels/fused_ops.ts.)

// u = a s_u; du = dg SiLU(nu); dnu = dg u sg (1 + nu (1 - sg));
// da = du s_u; ds_u = sum du a; db = dnu s_nu c; ds_nu = c sum dnu b
defineKernel("DmodelSwigluGrad", (mem, { dg, a, b, su, snu, nu, sg }, { c }: { c: number }) => {
  const n = last(a.shape), rows = size(a.shape) / n, chunks = chunksFor(rows * n, rows);
  const da = mem.out(a.shape), db = mem.out(a.shape), dsu = mem.out(su.shape), dsnu = mem.out(snu.shape);
  const partU = new Float64Array(chunks * n), partN = new Float64Array(chunks * n);
  const ins = [mem.f32(dg), mem.f32(a), mem.f32(b), mem.f32(su), mem.f32(snu), mem.f32(nu), mem.f32(sg)];
  parallel("swigluGrad", [...ins, mem.f32(da), mem.f32(db), partU, partN], [n, c], rows, chunks);
  reduceParts(partU, chunks, n, mem.f32(dsu));
  reduceParts(partN, chunks, n, mem.f32(dsnu), c);
  return [da, db, dsu, dsnu];
});

// The same in one pass each way, recomputing nu and sg from b (nothing saved but the inputs):
// the path when the native tasks are loaded (engine/kernels/native.ts; the TS twins pay ~8 ns per Math.exp).
defineKernel("DmodelSwiglu", (mem, { a, b, su, snu }, { c }: { c: number }) => {
  const n = last(a.shape), rows = size(a.shape) / n;
  const g = mem.out(a.shape);
  const arrays = [mem.f32(a), mem.f32(b), mem.f32(su), mem.f32(snu), mem.f32(g)];
  parallel("swiglu", arrays, [n, c], rows, chunksFor(rows * n, rows));
  return g;
});

defineKernel("DmodelSwigluGradFromInputs", (mem, { dg, a, b, su, snu }, { c }: { c: number }) => {
  const n = last(a.shape), rows = size(a.shape) / n, chunks = chunksFor(rows * n, rows);
  const da = mem.out(a.shape), db = mem.out(a.shape), dsu = mem.out(su.shape), dsnu = mem.out(snu.shape);
  const partU = new Float64Array(chunks * n), partN = new Float64Array(chunks * n);
  const ins = [mem.f32(dg), mem.f32(a), mem.f32(b), mem.f32(su), mem.f32(snu)];
  parallel("swigluGradFromInputs", [...ins, mem.f32(da), mem.f32(db), partU, partN], [n, c], rows, chunks);
  reduceParts(partU, chunks, n, mem.f32(dsu));
  reduceParts(partN, chunks, n, mem.f32(dsnu), c);
  return [da, db, dsu, dsnu];
});

// --- Softmax cross-entropy from probabilities p = softmax(logits) -----------
// loss = mean_i (-log p[i, t_i]); where p underflows, lse - logit in float64.

defineKernel("DmodelXentLoss", (mem, { p, logits, targets }) => {
  const V = last(p.shape), N = size(p.shape) / V;
  const out = mem.out([]);
  const pv = mem.f32(p), lv = mem.f32(logits), tv = mem.i32(targets), ov = mem.f32(out);
  let total = 0;
  for (let i = 0; i < N; i++) {
    const t = tv[i];
    if (!(t >= 0 && t < V)) throw new Error(`crossEntropy: target ${t} is not in [0, ${V - 1}]`);
    const pt = pv[i * V + t];
    if (pt > 1e-30) {
      total -= Math.log(pt);
      continue;
    }
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, lv[i * V + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(lv[i * V + j] - m);
    total += m + Math.log(s) - lv[i * V + t];
  }
  ov[0] = total / N;
  return out;
});

// x[i, t_i] -= g, in place on x, a fresh product (p * g) owned by the op; returns x.
defineKernel("DmodelSubAtTargets", (mem, { x, targets, g }) => {
  const V = last(x.shape), N = size(x.shape) / V;
  const xv = mem.f32(x), tv = mem.i32(targets), gv = mem.f32(g)[0];
  for (let i = 0; i < N; i++) xv[i * V + tv[i]] -= gv;
  // A new TensorInfo sharing x's data (returning x itself would make the engine reuse the
  // input tensor object and the extra reference would never be released).
  mem.share(x);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
});

// --- Causal attention core on q, k, v [B, T, H, dk] (OpenBLAS) --------------
// Head (b, h) of q is the T x dk matrix at offset b*T*D + h*dk with row
// stride D = H*dk: sgemm reads it in place, no transposes. The per-head
// products are small (T x T x dk): each runs on one OpenBLAS thread (its
// thread hand-off cost more than the product; measured 7x slower on 2
// threads), and the heads are shared between the kernel threads instead.
//
// Causal split: when the mask's block [0, c) x [c, T) is all masked (c = T/2),
// P and dS are zero there, so each product skips that quarter: rows [0, c)
// only meet columns [0, c). With c = 0 the products are the full ones.

/** Runs f with OpenBLAS on one thread per caller, then restores the thread count. */
function oneThread<T>(f: () => T): T {
  const n = getBlasThreads();
  if (n === 1) return f();
  setBlasThreads(1);
  try {
    return f();
  } finally {
    setBlasThreads(n);
  }
}

/** Chunks of the attention tasks (units: heads). */
const headChunks = (heads: number) => Math.min(16, heads);

// S = scale Q K^T + mask per head, [B, H, T, T].
defineKernel("DmodelAttnScores", (mem, { q, k, mask }, { scale }: { scale: number }) =>
  oneThread(() => {
    const [B, T, H, dk] = q.shape;
    const s = mem.out([B, H, T, T]);
    const mv = mem.f32(mask);
    const arrays = [mem.f32(q), mem.f32(k), mv, mem.f32(s)];
    parallel("attnScores", arrays, [T, H, dk, scale, causalSplit(mv, T)], B * H, headChunks(B * H));
    return s;
  }));

// P = softmax(scale Q K^T + mask) per head, [B, H, T, T], the softmax done per head right after
// its product (while in cache); rows stop at their last unmasked column.
defineKernel("DmodelAttnProbs", (mem, { q, k, mask }, { scale }: { scale: number }) =>
  oneThread(() => {
    const [B, T, H, dk] = q.shape;
    const p = mem.out([B, H, T, T]);
    const mv = mem.f32(mask);
    const arrays = [mem.f32(q), mem.f32(k), mv, rowEnds(mv, T), mem.f32(p)];
    parallel("attnProbs", arrays, [T, H, dk, scale, causalSplit(mv, T)], B * H, headChunks(B * H));
    return p;
  }));

// y [B*T, D]: y_bh = P_bh V_bh
defineKernel("DmodelAttnApply", (mem, { p, v, mask }) =>
  oneThread(() => {
    const [B, T, H, dk] = v.shape;
    const y = mem.out([B * T, H * dk]);
    const c = causalSplit(mem.f32(mask), T);
    parallel("attnApply", [mem.f32(p), mem.f32(v), mem.f32(y)], [T, H, dk, c], B * H, headChunks(B * H));
    return y;
  }));

// dP = dY V^T; dS = scale * P (dP - rowsum(dP P)); dQ = dS K; dK = dS^T Q; dV = P^T dY.
// Row i of P is zero past end[i] (1 + its last unmasked column): the loops stop there.
defineKernel(
  "DmodelAttnGrad",
  (mem, { dy, p, q, k, v, mask }, { scale }: { scale: number }) =>
    oneThread(() => {
      const [B, T, H, dk] = q.shape;
      const dq = mem.out(q.shape), dkk = mem.out(q.shape), dv = mem.out(q.shape);
      const mv = mem.f32(mask);
      const ins = [mem.f32(dy), mem.f32(p), mem.f32(q), mem.f32(k), mem.f32(v), rowEnds(mv, T)];
      const outs = [mem.f32(dq), mem.f32(dkk), mem.f32(dv)];
      parallel(
        "attnGrad",
        [...ins, ...outs],
        [T, H, dk, scale, causalSplit(mv, T)],
        B * H,
        headChunks(B * H),
      );
      return [dq, dkk, dv];
    }),
);
