/**
 * Kernel bodies of the fused ops (engine/fused_ops.ts), written in TS over
 * tensor memory (engine/js_kernels.ts) for the wasm and cpu backends. Each
 * replaces a chain of tfjs kernels by one pass over rows; sums are kept in
 * float64. Attention calls OpenBLAS (engine/blas.ts) on strided head views,
 * so q, k, v never get transposed. Importing this module registers them.
 *
 * Shapes: a "row" is the last axis (length n); rows = size / n.
 */
import { colSums, defineKernel } from "./js_kernels.ts";
import { getBlasThreads, setBlasThreads, sgemm } from "./blas.ts";

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const last = (shape: number[]) => shape[shape.length - 1];

// --- Row normalization: y = x / sqrt(ms * sum(x^2) + eps) ------------------
// unitNorm: ms = 1, eps = 0 (nGPT's Norm). rmsNorm: ms = 1/n.

defineKernel("DmodelRowNorm", (mem, { x }, { ms, eps }: { ms: number; eps: number }) => {
  const n = last(x.shape), rows = size(x.shape) / n;
  const y = mem.out(x.shape), inv = mem.out([rows]);
  const xv = mem.f32(x), yv = mem.f32(y), iv = mem.f32(inv);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += xv[o + j] * xv[o + j];
    const k = 1 / Math.sqrt(ms * s + eps);
    iv[r] = k;
    for (let j = 0; j < n; j++) yv[o + j] = xv[o + j] * k;
  }
  return [y, inv];
});

// dx = inv * (dy - ms * y * sum(y * dy))
defineKernel("DmodelRowNormGrad", (mem, { dy, y, inv }, { ms }: { ms: number }) => {
  const n = last(y.shape), rows = size(y.shape) / n;
  const dx = mem.out(y.shape);
  const dyv = mem.f32(dy), yv = mem.f32(y), iv = mem.f32(inv), dxv = mem.f32(dx);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    let dot = 0;
    for (let j = 0; j < n; j++) dot += yv[o + j] * dyv[o + j];
    const k = iv[r], c = ms * dot;
    for (let j = 0; j < n; j++) dxv[o + j] = k * (dyv[o + j] - c * yv[o + j]);
  }
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
    let s = 0;
    for (let j = 0; j < n; j++) {
      const z = hv[o + j] + abs[j] * (tv[o + j] - hv[o + j]);
      yv[o + j] = z;
      s += z * z;
    }
    const k = 1 / Math.sqrt(s);
    iv[r] = k;
    for (let j = 0; j < n; j++) yv[o + j] *= k;
  }
  return [y, inv];
});

// dz = inv (dy - y sum(y dy)); dh = dz (1 - |a|); dt = dz |a|; da = sign(a) sum_rows dz (t - h)
defineKernel("DmodelLerpNormGrad", (mem, { dy, y, inv, h, t, a }) => {
  const n = last(h.shape), rows = size(h.shape) / n;
  const dh = mem.out(h.shape), dt = mem.out(h.shape), da = mem.out(a.shape);
  const dyv = mem.f32(dy), yv = mem.f32(y), iv = mem.f32(inv), hv = mem.f32(h), tv = mem.f32(t), av = mem.f32(a);
  const dhv = mem.f32(dh), dtv = mem.f32(dt), dav = mem.f32(da);
  const abs = new Float64Array(n), acc = new Float64Array(n);
  for (let j = 0; j < n; j++) abs[j] = Math.abs(av[j]);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    let dot = 0;
    for (let j = 0; j < n; j++) dot += yv[o + j] * dyv[o + j];
    const k = iv[r];
    for (let j = 0; j < n; j++) {
      const dz = k * (dyv[o + j] - dot * yv[o + j]);
      dhv[o + j] = dz * (1 - abs[j]);
      dtv[o + j] = dz * abs[j];
      acc[j] += dz * (tv[o + j] - hv[o + j]);
    }
  }
  // d|a|/da as tfjs's Abs gradient: 1 for a > 0, else -1.
  for (let j = 0; j < n; j++) dav[j] = av[j] > 0 ? acc[j] : -acc[j];
  return [dh, dt, da];
});

// --- RoPE on x [B, T, H, dk] with tables cos, sin [T, (1,) dk] --------------
// Pairs (x0, x1) = (x[2i], x[2i+1]): r0 = x0 cos0 + x1 sin0, r1 = x1 cos1 + x0 sin1
// (sin0 = -sin, sin1 = +sin, engine/ops.ts ropeTables). The inverse (the
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
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tab = t * dk;
      for (let h = 0; h < H; h++) {
        const o = ((b * T + t) * H + h) * dk;
        for (let i = 0; i < dk; i += 2) {
          const x0 = xv[o + i], x1 = xv[o + i + 1];
          const c0 = cv[tab + i], c1 = cv[tab + i + 1];
          const s0 = inverse ? sv[tab + i + 1] : sv[tab + i], s1 = inverse ? sv[tab + i] : sv[tab + i + 1];
          out[o + i] = x0 * c0 + x1 * s0;
          out[o + i + 1] = x1 * c1 + x0 * s1;
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
  const dk = last(x.shape), rows = size(x.shape) / dk, hd = size(s.shape);
  const y = mem.out(x.shape), nrm = mem.out(x.shape), inv = mem.out([rows]);
  const yv = mem.f32(y), nv = mem.f32(nrm), iv = mem.f32(inv), sv = mem.f32(s);
  ropeRows(mem.f32(x), nv, mem.f32(cos), mem.f32(sin), x.shape, false);
  for (let r = 0, o = 0; r < rows; r++, o += dk) {
    let q = 0;
    for (let j = 0; j < dk; j++) q += nv[o + j] * nv[o + j];
    const k = 1 / Math.sqrt(q);
    iv[r] = k;
    const so = o % hd;
    for (let j = 0; j < dk; j++) {
      const v = nv[o + j] * k;
      nv[o + j] = v;
      yv[o + j] = v * sv[so + j];
    }
  }
  return [y, nrm, inv];
});

// dn = dy s; ds = sum over (B, T) of dy n; dr = inv (dn - n sum(n dn)); dx = RoPE^-1(dr)
defineKernel("DmodelRopeNormScaleGrad", (mem, { dy, nrm, inv, s, cos, sin }) => {
  const dk = last(nrm.shape), rows = size(nrm.shape) / dk, hd = size(s.shape);
  const dx = mem.out(nrm.shape), ds = mem.out(s.shape);
  const dyv = mem.f32(dy), nv = mem.f32(nrm), iv = mem.f32(inv), sv = mem.f32(s), dsv = mem.f32(ds);
  const dr = mem.f32(dx); // dr first, then rotated back in place (ropeRows reads each pair before writing it)
  const acc = new Float64Array(hd);
  for (let r = 0, o = 0; r < rows; r++, o += dk) {
    const so = o % hd;
    let dot = 0;
    for (let j = 0; j < dk; j++) {
      const g = dyv[o + j];
      acc[so + j] += g * nv[o + j];
      const dn = g * sv[so + j];
      dr[o + j] = dn;
      dot += nv[o + j] * dn;
    }
    const k = iv[r];
    for (let j = 0; j < dk; j++) dr[o + j] = k * (dr[o + j] - dot * nv[o + j]);
  }
  for (let j = 0; j < hd; j++) dsv[j] = acc[j];
  ropeRows(dr, dr, mem.f32(cos), mem.f32(sin), nrm.shape, true);
  return [dx, ds];
});

// --- Column scale: y = x * s * c, s of length n (broadcast over rows) -------

defineKernel("DmodelScaleCols", (mem, { x, s }, { c }: { c: number }) => {
  const n = last(x.shape), rows = size(x.shape) / n;
  const y = mem.out(x.shape);
  const xv = mem.f32(x), sv = mem.f32(s), yv = mem.f32(y);
  const sc = new Float64Array(n);
  for (let j = 0; j < n; j++) sc[j] = sv[j] * c;
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    for (let j = 0; j < n; j++) yv[o + j] = xv[o + j] * sc[j];
  }
  return y;
});

// dx = dy * s * c; ds = c * sum_rows dy * x
defineKernel("DmodelScaleColsGrad", (mem, { dy, x, s }, { c }: { c: number }) => {
  const n = last(x.shape), rows = size(x.shape) / n;
  const dx = mem.out(x.shape), ds = mem.out(s.shape);
  const dyv = mem.f32(dy), xv = mem.f32(x), sv = mem.f32(s), dxv = mem.f32(dx), dsv = mem.f32(ds);
  const sc = new Float64Array(n), acc = new Float64Array(n);
  for (let j = 0; j < n; j++) sc[j] = sv[j] * c;
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    for (let j = 0; j < n; j++) {
      const g = dyv[o + j];
      dxv[o + j] = g * sc[j];
      acc[j] += g * xv[o + j];
    }
  }
  for (let j = 0; j < n; j++) dsv[j] = c * acc[j];
  return [dx, ds];
});

// --- SwiGLU: g = (a s_u) * SiLU(nu), nu = b s_nu c, sg = sigmoid(nu) ---------

defineKernel("DmodelSwiglu", (mem, { a, su, nu, sg }) => {
  const n = last(a.shape), rows = size(a.shape) / n;
  const g = mem.out(a.shape);
  const av = mem.f32(a), suv = mem.f32(su), nuv = mem.f32(nu), sgv = mem.f32(sg), gv = mem.f32(g);
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    for (let j = 0; j < n; j++) gv[o + j] = av[o + j] * suv[j] * nuv[o + j] * sgv[o + j];
  }
  return g;
});

// u = a s_u; du = dg SiLU(nu); dnu = dg u sg (1 + nu (1 - sg));
// da = du s_u; ds_u = sum du a; db = dnu s_nu c; ds_nu = c sum dnu b
defineKernel("DmodelSwigluGrad", (mem, { dg, a, b, su, snu, nu, sg }, { c }: { c: number }) => {
  const n = last(a.shape), rows = size(a.shape) / n;
  const da = mem.out(a.shape), db = mem.out(a.shape), dsu = mem.out(su.shape), dsnu = mem.out(snu.shape);
  const dgv = mem.f32(dg), av = mem.f32(a), bv = mem.f32(b), suv = mem.f32(su), snuv = mem.f32(snu);
  const nuv = mem.f32(nu), sgv = mem.f32(sg);
  const dav = mem.f32(da), dbv = mem.f32(db), dsuv = mem.f32(dsu), dsnuv = mem.f32(dsnu);
  const accU = new Float64Array(n), accN = new Float64Array(n), snc = new Float64Array(n);
  for (let j = 0; j < n; j++) snc[j] = snuv[j] * c;
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    for (let j = 0; j < n; j++) {
      const i = o + j;
      const g = dgv[i], x = nuv[i], s = sgv[i], aj = av[i];
      const du = g * x * s;
      dav[i] = du * suv[j];
      accU[j] += du * aj;
      const dnu = g * aj * suv[j] * s * (1 + x * (1 - s));
      dbv[i] = dnu * snc[j];
      accN[j] += dnu * bv[i];
    }
  }
  for (let j = 0; j < n; j++) dsuv[j] = accU[j], dsnuv[j] = c * accN[j];
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

// dlogits = (p - onehot(t)) * dy / N
defineKernel("DmodelXentGrad", (mem, { p, targets, dy }) => {
  const V = last(p.shape), N = size(p.shape) / V;
  const dx = mem.out(p.shape);
  const pv = mem.f32(p), tv = mem.i32(targets), dxv = mem.f32(dx);
  const g = mem.f32(dy)[0] / N;
  for (let i = 0; i < pv.length; i++) dxv[i] = pv[i] * g;
  for (let i = 0; i < N; i++) dxv[i * V + tv[i]] -= g;
  return dx;
});

// --- Causal attention core on q, k, v [B, T, H, dk] (OpenBLAS) --------------
// Head (b, h) of q is the T x dk matrix at offset b*T*D + h*dk with row
// stride D = H*dk: sgemm reads it in place, no transposes. The per-head
// products are small (T x T x dk): OpenBLAS runs them on one thread (its
// thread hand-off cost more than the product; measured 7x slower on 2 threads).

/** Runs f with OpenBLAS on one thread, then restores the thread count. */
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

defineKernel("DmodelAttnScores", (mem, { q, k, mask }, { scale }: { scale: number }) => oneThread(() => {
  const [B, T, H, dk] = q.shape, D = H * dk;
  const s = mem.out([B, H, T, T]);
  const qv = mem.f32(q), kv = mem.f32(k), mv = mem.f32(mask), sv = mem.f32(s);
  const TT = T * T;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = b * T * D + h * dk, so = (b * H + h) * TT;
      const sbh = sv.subarray(so, so + TT);
      sbh.set(mv); // S = mask, then S += scale * Q K^T
      sgemm(false, true, T, T, dk, scale, qv.subarray(base), D, kv.subarray(base), D, 1, sbh, T);
    }
  }
  return s;
}));

// y [B*T, D]: y_bh = P_bh V_bh
defineKernel("DmodelAttnApply", (mem, { p, v }) => oneThread(() => {
  const [B, T, H, dk] = v.shape, D = H * dk, TT = T * T;
  const y = mem.out([B * T, D]);
  const pv = mem.f32(p), vv = mem.f32(v), yv = mem.f32(y);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = b * T * D + h * dk, po = (b * H + h) * TT;
      sgemm(false, false, T, dk, T, 1, pv.subarray(po, po + TT), T, vv.subarray(base), D, 0, yv.subarray(base), D);
    }
  }
  return y;
}));

/** Mask entries at or below this are zero probability (float32 softmax underflows there). */
export const MASKED = -1e9;

// dP = dY V^T; dS = scale * P (dP - rowsum(dP P)); dQ = dS K; dK = dS^T Q; dV = P^T dY.
// Row i of P is zero past end[i] (1 + its last unmasked column): the loops stop there.
defineKernel("DmodelAttnGrad", (mem, { dy, p, q, k, v, mask }, { scale }: { scale: number }) => oneThread(() => {
  const [B, T, H, dk] = q.shape, D = H * dk, TT = T * T;
  const dq = mem.out(q.shape), dkk = mem.out(q.shape), dv = mem.out(q.shape);
  const dyv = mem.f32(dy), pv = mem.f32(p), qv = mem.f32(q), kv = mem.f32(k), vv = mem.f32(v), mv = mem.f32(mask);
  const dqv = mem.f32(dq), dkv = mem.f32(dkk), dvv = mem.f32(dv);
  const ds = new Float32Array(TT);
  const end = new Int32Array(T);
  for (let i = 0; i < T; i++) {
    let e = T;
    while (e > 0 && mv[i * T + e - 1] <= MASKED) e--;
    end[i] = e;
  }
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const base = b * T * D + h * dk, po = (b * H + h) * TT;
      const pbh = pv.subarray(po, po + TT);
      sgemm(false, true, T, T, dk, 1, dyv.subarray(base), D, vv.subarray(base), D, 0, ds, T);
      for (let i = 0, o = 0; i < T; i++, o += T) {
        const e = end[i];
        let dot = 0;
        for (let j = 0; j < e; j++) dot += ds[o + j] * pbh[o + j];
        for (let j = 0; j < e; j++) ds[o + j] = scale * pbh[o + j] * (ds[o + j] - dot);
        ds.fill(0, o + e, o + T);
      }
      sgemm(false, false, T, dk, T, 1, ds, T, kv.subarray(base), D, 0, dqv.subarray(base), D);
      sgemm(true, false, T, dk, T, 1, ds, T, qv.subarray(base), D, 0, dkv.subarray(base), D);
      sgemm(true, false, T, dk, T, 1, pbh, T, dyv.subarray(base), D, 0, dvv.subarray(base), D);
    }
  }
  return [dq, dkk, dv];
}));

/** Kernel names registered by this module. */
export const FUSED_KERNELS = [
  "DmodelRowNorm",
  "DmodelRowNormGrad",
  "DmodelLerpNorm",
  "DmodelLerpNormGrad",
  "DmodelRope",
  "DmodelRopeNormScale",
  "DmodelRopeNormScaleGrad",
  "DmodelScaleCols",
  "DmodelScaleColsGrad",
  "DmodelSwiglu",
  "DmodelSwigluGrad",
  "DmodelXentLoss",
  "DmodelXentGrad",
  "DmodelAttnScores",
  "DmodelAttnApply",
  "DmodelAttnGrad",
] as const;
