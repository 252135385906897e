/**
 * The loops of dmodel's fused kernels, as chunked tasks that any thread can
 * run (engine/kernels/thread_pool.ts): `task(arrays, scalars, lo, hi, chunk)` does work
 * units [lo, hi) (rows, or attention heads) and writes per-chunk partial
 * sums to its own slice of a partial-sum array. Everything is a pure
 * function of its arrays, so a chunk gives the same bits on any thread.
 * Sums are kept in float64. Formulas: engine/kernels/fused_kernels.ts.
 */
import { sgemm } from "./blas.ts";

/** A task's memory: tensor data or host arrays. */
export type TaskArray = Float32Array | Float64Array | Int32Array;
type F32 = Float32Array;
type F64 = Float64Array;
type Task = (a: TaskArray[], s: number[] | Float64Array, lo: number, hi: number, chunk: number) => void;

/** sum_j a[ao + j] * b[bo + j] for j < n, with four accumulators (no loop-carried add latency). */
export function dot(a: F32, ao: number, b: F32, bo: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
  for (; j + 3 < n; j += 4) {
    s0 += a[ao + j] * b[bo + j];
    s1 += a[ao + j + 1] * b[bo + j + 1];
    s2 += a[ao + j + 2] * b[bo + j + 2];
    s3 += a[ao + j + 3] * b[bo + j + 3];
  }
  for (; j < n; j++) s0 += a[ao + j] * b[bo + j];
  return (s0 + s1) + (s2 + s3);
}

/**
 * The masked logit: an additive attention mask puts this where attention is
 * not allowed, and mask entries at or below it are zero probability (float32
 * softmax underflows there). The one definition: the TS kernels, the masks of
 * engine/nn/ops.ts and the blocks, and the native kernels (compiled with
 * -DMASKED=<this>, engine/kernels/native.ts) all use it.
 */
export const MASKED = -1e9;

/** sgemm on (array, offset) pairs: C[co..] = alpha op(A[ao..]) op(B[bo..]) + beta C. */
function mm(
  tA: boolean,
  tB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: F32,
  ao: number,
  lda: number,
  b: F32,
  bo: number,
  ldb: number,
  beta: number,
  c: F32,
  co: number,
  ldc: number,
): void {
  if (m === 0 || n === 0) return;
  sgemm(tA, tB, m, n, k, alpha, a.subarray(ao), lda, b.subarray(bo), ldb, beta, c.subarray(co), ldc);
}

/** Scratch of this thread (the attention gradient's dS, T x T). */
let scratch = new Float32Array(0);
function scratchOf(n: number): F32 {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch.subarray(0, n);
}

/** Per-column |a|, for the LERP tasks. */
function absOf(a: F32, n: number): F64 {
  const abs = new Float64Array(n);
  for (let j = 0; j < n; j++) abs[j] = Math.abs(a[j]);
  return abs;
}

/**
 * Rows [lo, hi) of the SwiGLU gradient, g = (a s_u) SiLU(nu), nu = b s_nu c:
 * du = dg SiLU(nu); dnu = dg a s_u sg (1 + nu (1 - sg)); da = du s_u; db = dnu s_nu c;
 * partU, partN [chunks, n] get sum du a and sum dnu b. nu and sg = sigmoid(nu)
 * are read when saved, else computed from b.
 */
function swigluGradRows(
  [dg, a, b, su, snu, da, db, partU, partN]: TaskArray[],
  nu: F32 | null,
  sg: F32 | null,
  n: number,
  c: number,
  lo: number,
  hi: number,
  chunk: number,
): void {
  const dgv = dg as F32, av = a as F32, bv = b as F32, dav = da as F32, dbv = db as F32;
  const accU = (partU as F64).subarray(chunk * n, chunk * n + n);
  const accN = (partN as F64).subarray(chunk * n, chunk * n + n);
  const suv = new Float64Array(n), snc = new Float64Array(n);
  for (let j = 0; j < n; j++) suv[j] = su[j], snc[j] = snu[j] * c;
  for (let r = lo, o = lo * n; r < hi; r++, o += n) {
    for (let j = 0; j < n; j++) {
      const i = o + j, g = dgv[i], aj = av[i];
      const x = nu ? nu[i] : bv[i] * snc[j], s = sg ? sg[i] : 1 / (1 + Math.exp(-x));
      const du = g * x * s;
      dav[i] = du * suv[j];
      accU[j] += du * aj;
      const dnu = g * aj * suv[j] * s * (1 + x * (1 - s));
      dbv[i] = dnu * snc[j];
      accN[j] += dnu * bv[i];
    }
  }
}

/** The tasks by name. Units: rows unless said otherwise. */
export const TASKS = {
  /** [x, y], [c]: y = c x (elements as units; for tests and examples). */
  scale: ([x, y], [c], lo, hi) => {
    for (let i = lo; i < hi; i++) y[i] = c * x[i];
  },

  /** [x, y, inv], [n, ms, eps]: y = x / sqrt(ms sum(x^2) + eps). */
  rowNorm: ([x, y, inv], [n, ms, eps], lo, hi) => {
    const xv = x as F32, yv = y as F32;
    for (let r = lo, o = lo * n; r < hi; r++, o += n) {
      const k = 1 / Math.sqrt(ms * dot(xv, o, xv, o, n) + eps);
      inv[r] = k;
      for (let j = 0; j < n; j++) yv[o + j] = xv[o + j] * k;
    }
  },

  /** [dy, y, inv, dx], [n, ms]: dx = inv (dy - ms y sum(y dy)). */
  rowNormGrad: ([dy, y, inv, dx], [n, ms], lo, hi) => {
    const dyv = dy as F32, yv = y as F32;
    for (let r = lo, o = lo * n; r < hi; r++, o += n) {
      const k = inv[r], c = ms * dot(yv, o, dyv, o, n);
      for (let j = 0; j < n; j++) dx[o + j] = k * (dyv[o + j] - c * yv[o + j]);
    }
  },

  /** [h, u, a, y, inv, invU], [n]: y = Norm(h + |a| (Norm(u) - h)). */
  lerpNormTo: ([h, u, a, y, inv, invU], [n], lo, hi) => {
    const hv = h as F32, uv = u as F32, yv = y as F32, abs = absOf(a as F32, n);
    for (let r = lo, o = lo * n; r < hi; r++, o += n) {
      const ku = 1 / Math.sqrt(dot(uv, o, uv, o, n));
      invU[r] = ku;
      let s0 = 0, s1 = 0, j = 0;
      for (; j + 1 < n; j += 2) {
        const z0 = hv[o + j] + abs[j] * (uv[o + j] * ku - hv[o + j]);
        const z1 = hv[o + j + 1] + abs[j + 1] * (uv[o + j + 1] * ku - hv[o + j + 1]);
        yv[o + j] = z0, yv[o + j + 1] = z1;
        s0 += z0 * z0, s1 += z1 * z1;
      }
      for (; j < n; j++) {
        const z = hv[o + j] + abs[j] * (uv[o + j] * ku - hv[o + j]);
        yv[o + j] = z, s0 += z * z;
      }
      const k = 1 / Math.sqrt(s0 + s1);
      inv[r] = k;
      for (let j = 0; j < n; j++) yv[o + j] *= k;
    }
  },

  /**
   * [dy, y, inv, h, u, invU, a, dh, du, part], [n]: the LERP gradient; part
   * [chunks, n] gets sum_rows dz (t - h) of this chunk.
   */
  lerpNormToGrad: ([dy, y, inv, h, u, invU, a, dh, du, part], [n], lo, hi, chunk) => {
    const dyv = dy as F32, yv = y as F32, hv = h as F32, uv = u as F32, abs = absOf(a as F32, n);
    const acc = (part as F64).subarray(chunk * n, chunk * n + n);
    for (let r = lo, o = lo * n; r < hi; r++, o += n) {
      const k = inv[r], ku = invU[r];
      let c = 0, e1 = 0, e2 = 0;
      for (let j = 0; j < n; j++) {
        const yj = yv[o + j], gj = dyv[o + j], w = uv[o + j] * abs[j];
        c += yj * gj, e1 += w * gj, e2 += w * yj;
      }
      const ct = ku * k * (e1 - c * e2); // sum(t dt)
      for (let j = 0; j < n; j++) {
        const dz = k * (dyv[o + j] - c * yv[o + j]), t = uv[o + j] * ku;
        dh[o + j] = dz * (1 - abs[j]);
        du[o + j] = ku * (dz * abs[j] - ct * t);
        acc[j] += dz * (t - hv[o + j]);
      }
    }
  },

  /** [x, cos, sin, s, y, nrm, inv], [T, H, dk]; units: (b, t) rows of H heads. */
  ropeNormScale: ([x, cos, sin, s, y, nrm, inv], [T, H, dk], lo, hi) => {
    const xv = x as F32, cv = cos as F32, snv = sin as F32, nv = nrm as F32;
    for (let bt = lo; bt < hi; bt++) {
      const tab = (bt % T) * dk;
      for (let h = 0, so = 0, o = bt * H * dk, r = bt * H; h < H; h++, so += dk, o += dk, r++) {
        // Rotate the pairs, summing squares on the way; then normalize and scale.
        let q0 = 0, q1 = 0;
        for (let i = 0; i < dk; i += 2) {
          const x0 = xv[o + i], x1 = xv[o + i + 1];
          const r0 = x0 * cv[tab + i] + x1 * snv[tab + i], r1 = x1 * cv[tab + i + 1] + x0 * snv[tab + i + 1];
          nv[o + i] = r0, nv[o + i + 1] = r1;
          q0 += r0 * r0, q1 += r1 * r1;
        }
        const k = 1 / Math.sqrt(q0 + q1);
        inv[r] = k;
        for (let j = 0; j < dk; j++) {
          const v = nv[o + j] * k;
          nv[o + j] = v;
          y[o + j] = v * s[so + j];
        }
      }
    }
  },

  /** [dy, nrm, inv, s, cos, sin, dx, part], [T, H, dk]; part [chunks, H*dk] gets ds. Units: (b, t). */
  ropeNormScaleGrad: ([dy, nrm, inv, s, cos, sin, dx, part], [T, H, dk], lo, hi, chunk) => {
    const dyv = dy as F32, nv = nrm as F32, sv = s as F32, cv = cos as F32, snv = sin as F32, dxv = dx as F32;
    const hd = H * dk, acc = (part as F64).subarray(chunk * hd, chunk * hd + hd);
    for (let bt = lo; bt < hi; bt++) {
      const tab = (bt % T) * dk;
      for (let h = 0, so = 0, o = bt * H * dk, r = bt * H; h < H; h++, so += dk, o += dk, r++) {
        let c0 = 0, c1 = 0;
        for (let j = 0; j < dk; j += 2) {
          const g0 = dyv[o + j], g1 = dyv[o + j + 1], n0 = nv[o + j], n1 = nv[o + j + 1];
          acc[so + j] += g0 * n0;
          acc[so + j + 1] += g1 * n1;
          const d0 = g0 * sv[so + j], d1 = g1 * sv[so + j + 1];
          dxv[o + j] = d0, dxv[o + j + 1] = d1;
          c0 += n0 * d0, c1 += n1 * d1;
        }
        const c = c0 + c1, k = inv[r];
        // dr = k (dn - c n), rotated back: dx0 = dr0 cos0 + dr1 sin1, dx1 = dr1 cos1 + dr0 sin0.
        for (let i = 0; i < dk; i += 2) {
          const r0 = k * (dxv[o + i] - c * nv[o + i]), r1 = k * (dxv[o + i + 1] - c * nv[o + i + 1]);
          dxv[o + i] = r0 * cv[tab + i] + r1 * snv[tab + i + 1];
          dxv[o + i + 1] = r1 * cv[tab + i + 1] + r0 * snv[tab + i];
        }
      }
    }
  },

  /**
   * [dg, a, b, su, snu, nu, sg, da, db, partU, partN], [n, c]: the SwiGLU
   * gradient; partU, partN [chunks, n] get sum du a and sum dnu b.
   */
  swigluGrad: ([dg, a, b, su, snu, nu, sg, da, db, partU, partN], [n, c], lo, hi, chunk) =>
    swigluGradRows([dg, a, b, su, snu, da, db, partU, partN], nu as F32, sg as F32, n, c, lo, hi, chunk),

  /** [a, b, su, snu, g], [n, c]: g = (a s_u) SiLU(b s_nu c) in one pass (nothing saved but a and b). */
  swiglu: ([a, b, su, snu, g], [n, c], lo, hi) => {
    const av = a as F32, bv = b as F32, gv = g as F32;
    const snc = new Float64Array(n);
    for (let j = 0; j < n; j++) snc[j] = snu[j] * c;
    for (let r = lo, o = lo * n; r < hi; r++, o += n) {
      for (let j = 0; j < n; j++) {
        const nu = bv[o + j] * snc[j];
        gv[o + j] = av[o + j] * su[j] * (nu / (1 + Math.exp(-nu)));
      }
    }
  },

  /**
   * [dg, a, b, su, snu, da, db, partU, partN], [n, c]: the SwiGLU gradient
   * recomputing nu and sigmoid(nu) from b (task swigluGrad reads them saved).
   */
  swigluGradFromInputs: (arrays, [n, c], lo, hi, chunk) =>
    swigluGradRows(arrays, null, null, n, c, lo, hi, chunk),

  /**
   * [q, k, mask, end, p], [T, H, dk, scale, c]; units: heads. P = softmax(scale Q K^T + mask)
   * per head, row i over columns [0, end[i]) and zero past it (a row with end 0 is all zero).
   */
  attnProbs: ([q, k, mask, end, p], [T, H, dk, scale, c], lo, hi) => {
    const pv = p as F32, TT = T * T;
    TASKS.attnScores([q, k, mask, p], [T, H, dk, scale, c], lo, hi);
    for (let bh = lo; bh < hi; bh++) {
      for (let i = 0, o = bh * TT; i < T; i++, o += T) {
        const e = end[i];
        let m = -Infinity, z = 0;
        for (let j = 0; j < e; j++) m = Math.max(m, pv[o + j]);
        for (let j = 0; j < e; j++) z += pv[o + j] = Math.exp(pv[o + j] - m);
        for (let j = 0; j < e; j++) pv[o + j] /= z;
        pv.fill(0, o + e, o + T);
      }
    }
  },

  /** [q, k, mask, s], [T, H, dk, scale, c]; units: heads (b, h). S = scale Q K^T + mask (c: causal split). */
  attnScores: ([q, k, mask, s], [T, H, dk, scale, c], lo, hi) => {
    const qv = q as F32, kv = k as F32, mv = mask as F32, sv = s as F32, D = H * dk, TT = T * T;
    for (let bh = lo; bh < hi; bh++) {
      const b = Math.floor(bh / H), h = bh % H, base = b * T * D + h * dk, so = bh * TT;
      sv.set(mv, so); // S = mask, then S += scale * Q K^T
      mm(false, true, c, c, dk, scale, qv, base, D, kv, base, D, 1, sv, so, T);
      mm(false, true, T - c, T, dk, scale, qv, base + c * D, D, kv, base, D, 1, sv, so + c * T, T);
    }
  },

  /** [p, v, y], [T, H, dk, c]; units: heads. y_bh = P_bh V_bh. */
  attnApply: ([p, v, y], [T, H, dk, c], lo, hi) => {
    const pv = p as F32, vv = v as F32, yv = y as F32, D = H * dk, TT = T * T;
    for (let bh = lo; bh < hi; bh++) {
      const b = Math.floor(bh / H), h = bh % H, base = b * T * D + h * dk, po = bh * TT;
      mm(false, false, c, dk, c, 1, pv, po, T, vv, base, D, 0, yv, base, D);
      mm(false, false, T - c, dk, T, 1, pv, po + c * T, T, vv, base, D, 0, yv, base + c * D, D);
    }
  },

  /**
   * [dy, p, q, k, v, end, dq, dk, dv], [T, H, dk, scale, c]; units: heads.
   * dP = dY V^T; dS = scale P (dP - rowsum(dP P)); dQ = dS K; dK = dS^T Q; dV = P^T dY.
   */
  attnGrad: ([dy, p, q, k, v, end, dq, dk, dv], [T, H, dkk, scale, c], lo, hi) => {
    const dyv = dy as F32, pv = p as F32, qv = q as F32, kv = k as F32, vv = v as F32;
    const dqv = dq as F32, dkv = dk as F32, dvv = dv as F32, D = H * dkk, TT = T * T, r = T - c;
    const ds = scratchOf(TT);
    for (let bh = lo; bh < hi; bh++) {
      const b = Math.floor(bh / H), h = bh % H, base = b * T * D + h * dkk, po = bh * TT, lo2 = base + c * D;
      // dP (rows [0, c) only need columns [0, c)).
      mm(false, true, c, c, dkk, 1, dyv, base, D, vv, base, D, 0, ds, 0, T);
      mm(false, true, r, T, dkk, 1, dyv, lo2, D, vv, base, D, 0, ds, c * T, T);
      for (let i = 0, o = 0; i < T; i++, o += T) {
        const e = end[i], cc = dot(ds, o, pv, po + o, e);
        for (let j = 0; j < e; j++) ds[o + j] = scale * pv[po + o + j] * (ds[o + j] - cc);
        ds.fill(0, o + e, o + T);
      }
      // dQ = dS K
      mm(false, false, c, dkk, c, 1, ds, 0, T, kv, base, D, 0, dqv, base, D);
      mm(false, false, r, dkk, T, 1, ds, c * T, T, kv, base, D, 0, dqv, lo2, D);
      // dK = dS^T Q: columns [0, c) of dS meet every row; columns [c, T) only rows [c, T).
      mm(true, false, c, dkk, T, 1, ds, 0, T, qv, base, D, 0, dkv, base, D);
      mm(true, false, r, dkk, r, 1, ds, c * T + c, T, qv, lo2, D, 0, dkv, lo2, D);
      // dV = P^T dY, the same pattern.
      mm(true, false, c, dkk, T, 1, pv, po, T, dyv, base, D, 0, dvv, base, D);
      mm(true, false, r, dkk, r, 1, pv, po + c * T + c, T, dyv, lo2, D, 0, dvv, lo2, D);
    }
  },

  /**
   * [g, m, v, w], [b1, a1, b2, a2, stepSize, ibc2, eps, decay]; units:
   * elements. Adam: m = b1 m + a1 g; v = b2 v + a2 g^2;
   * w -= stepSize m / (sqrt(v) ibc2 + eps) + decay w.
   */
  adam: ([g, m, v, w], [b1, a1, b2, a2, stepSize, ibc2, eps, decay], lo, hi) => {
    if (decay === 0) {
      for (let i = lo; i < hi; i++) {
        const gi = g[i];
        const mi = (m[i] = b1 * m[i] + a1 * gi);
        const vi = (v[i] = b2 * v[i] + a2 * gi * gi);
        w[i] -= stepSize * mi / (Math.sqrt(vi) * ibc2 + eps);
      }
    } else {
      for (let i = lo; i < hi; i++) {
        const gi = g[i];
        const mi = (m[i] = b1 * m[i] + a1 * gi);
        const vi = (v[i] = b2 * v[i] + a2 * gi * gi);
        w[i] -= stepSize * mi / (Math.sqrt(vi) * ibc2 + eps) + decay * w[i];
      }
    }
  },
} satisfies Record<string, Task>;

/** Names of the tasks. */
export type TaskName = keyof typeof TASKS;

/** Causal split of the attention tasks: T/2 when the mask's top-right quarter is all masked, else 0. */
export function causalSplit(mv: F32, T: number): number {
  const c = T >> 1;
  if (c === 0 || T % 2 !== 0) return 0;
  for (let i = 0; i < c; i++) {
    for (let j = c; j < T; j++) if (mv[i * T + j] > MASKED) return 0;
  }
  return c;
}

/** Row ends of P: 1 + the last unmasked column of each mask row. */
export function rowEnds(mv: F32, T: number): Int32Array {
  const end = new Int32Array(T);
  for (let i = 0; i < T; i++) {
    let e = T;
    while (e > 0 && mv[i * T + e - 1] <= MASKED) e--;
    end[i] = e;
  }
  return end;
}

/** Adds per-chunk partial sums [chunks, n] into out[j] (chunk order, float64). */
export function reduceParts(part: F64, chunks: number, n: number, out: F32, scale = 1, signOf?: F32): void {
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let c = 0; c < chunks; c++) s += part[c * n + j];
    s *= scale;
    out[j] = signOf ? (signOf[j] > 0 ? s : -s) : s;
  }
}
