/*
 * dmodel's fused-kernel tasks in C: the same chunked tasks as
 * engine/kernels/kernel_tasks.ts (same arrays in the same order, same scalars, same
 * work units, the same per-chunk partial sums), compiled on the user's
 * machine by engine/kernels/native.ts with the system C compiler (-O3
 * -march=native) so that the element loops run as SIMD. JavaScript runs
 * these loops at 0.5-8 ns per element (Math.exp alone ~8 ns); here they are
 * bound by memory bandwidth. The TS tasks stay the reference (tests compare
 * the two) and the fallback when no compiler is there.
 *
 * Every task: void dm_<name>(void *const *arr, const double *sc, int lo, int hi, int chunk)
 * does work units [lo, hi) of chunk `chunk`. Row reductions are summed in
 * double, elementwise work is float. Formulas: engine/kernels/fused_kernels.ts.
 */
#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define F(i) ((float *)arr[i])
#define D(i) ((double *)arr[i])
#define I(i) ((const int32_t *)arr[i])
/* MASKED, the masked logit, comes from engine/kernels/kernel_tasks.ts as -DMASKED=... (engine/kernels/native.ts). */
#ifndef MASKED
#error "compile with -DMASKED=<the masked logit of engine/kernels/kernel_tasks.ts>"
#endif

/* ABI version: engine/kernels/native.ts refuses a library whose version differs. */
int dm_version(void) { return 3; }

/* 1 when this CPU has the instruction sets this build was compiled for (-march=native elsewhere). */
int dm_cpu_ok(void) {
  __builtin_cpu_init();
#ifdef __AVX__
  if (!__builtin_cpu_supports("avx")) return 0;
#endif
#ifdef __AVX2__
  if (!__builtin_cpu_supports("avx2")) return 0;
#endif
#ifdef __FMA__
  if (!__builtin_cpu_supports("fma")) return 0;
#endif
#ifdef __AVX512F__
  if (!__builtin_cpu_supports("avx512f")) return 0;
#endif
#ifdef __AVX512BW__
  if (!__builtin_cpu_supports("avx512bw")) return 0;
#endif
#ifdef __AVX512DQ__
  if (!__builtin_cpu_supports("avx512dq")) return 0;
#endif
#ifdef __AVX512VL__
  if (!__builtin_cpu_supports("avx512vl")) return 0;
#endif
  return 1;
}

/* --- OpenBLAS, found at run time (the attention tasks) --------------------------------- */

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
static sgemm_fn sgemm_p = NULL;

/* Binds cblas_sgemm from the OpenBLAS that engine/kernels/blas.ts loaded (same path: same instance). */
int dm_init(const char *openblas) {
  if (sgemm_p) return 1;
  if (!openblas || !*openblas) return 0;
  void *h = dlopen(openblas, RTLD_NOW | RTLD_GLOBAL);
  if (!h) return 0;
  sgemm_p = (sgemm_fn)dlsym(h, "cblas_sgemm");
  return sgemm_p != NULL;
}

/* C[co..] = alpha op(A) op(B) + beta C, row-major (CBLAS 101; 111 no transpose, 112 transpose). */
static void mm(int tA, int tB, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
               int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  sgemm_p(101, tA ? 112 : 111, tB ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* --- Helpers ------------------------------------------------------------------------------ */

/* sum_j a[j] b[j] in double. */
static inline double dotd(const float *a, const float *b, int n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < n; j++) s += (double)a[j] * b[j];
  return s;
}

/*
 * e^x in float, branch-free so loops vectorize: x = k ln2 + r with |r| <= ln2/2
 * (ln2 split in two parts, Cody and Waite), e^r by its degree-6 Taylor polynomial
 * (relative error < 3e-7), 2^k from the exponent bits. 0 below -87.3 (float underflow).
 */
static inline float exp_f(float x) {
  const float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float kf = (xc * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float r = fmaf(kf, -0.693359375f, xc);
  r = fmaf(kf, 2.12194440e-4f, r);
  float p = 1.0f / 720;
  p = fmaf(p, r, 1.0f / 120);
  p = fmaf(p, r, 1.0f / 24);
  p = fmaf(p, r, 1.0f / 6);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  union {
    int32_t i;
    float f;
  } two_k = {.i = ((int32_t)kf + 127) << 23};
  return x < -87.3f ? 0.0f : p * two_k.f;
}

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

/* Thread-local scratch (the attention gradient's dS, T x T). */
static __thread float *scratch = NULL;
static __thread size_t scratch_n = 0;
static float *scratch_of(size_t n) {
  if (scratch_n < n) {
    free(scratch);
    scratch = (float *)malloc(n * sizeof(float));
    scratch_n = scratch ? n : 0;
  }
  return scratch;
}

/* --- Row normalization: [x, y, inv], [n, ms, eps]: y = x / sqrt(ms sum(x^2) + eps) -------- */

void dm_rowNorm(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *x = F(0);
  float *y = F(1), *inv = F(2);
  const int n = (int)sc[0];
  for (int r = lo; r < hi; r++) {
    const float *xr = x + (size_t)r * n;
    float *yr = y + (size_t)r * n;
    const float k = (float)(1.0 / sqrt(sc[1] * dotd(xr, xr, n) + sc[2]));
    inv[r] = k;
#pragma omp simd
    for (int j = 0; j < n; j++) yr[j] = xr[j] * k;
  }
}

/* [dy, y, inv, dx], [n, ms]: dx = inv (dy - ms y sum(y dy)). */
void dm_rowNormGrad(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *dy = F(0), *y = F(1), *inv = F(2);
  float *dx = F(3);
  const int n = (int)sc[0];
  for (int r = lo; r < hi; r++) {
    const size_t o = (size_t)r * n;
    const float k = inv[r], c = (float)(sc[1] * dotd(y + o, dy + o, n));
#pragma omp simd
    for (int j = 0; j < n; j++) dx[o + j] = k * (dy[o + j] - c * y[o + j]);
  }
}

/* --- LERP toward a normalized target (nGPT eq. 10-11) ------------------------------------- */

/* [h, u, a, y, inv, invU], [n]: y = Norm(h + |a| (Norm(u) - h)). */
void dm_lerpNormTo(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *h = F(0), *u = F(1), *a = F(2);
  float *y = F(3), *inv = F(4), *invU = F(5);
  const int n = (int)sc[0];
  float abs_a[n];
  for (int j = 0; j < n; j++) abs_a[j] = fabsf(a[j]);
  for (int r = lo; r < hi; r++) {
    const size_t o = (size_t)r * n;
    const float ku = (float)(1.0 / sqrt(dotd(u + o, u + o, n)));
    invU[r] = ku;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) {
      const float z = h[o + j] + abs_a[j] * (u[o + j] * ku - h[o + j]);
      y[o + j] = z;
      s += (double)z * z;
    }
    const float k = (float)(1.0 / sqrt(s));
    inv[r] = k;
#pragma omp simd
    for (int j = 0; j < n; j++) y[o + j] *= k;
  }
}

/*
 * [dy, y, inv, h, u, invU, a, dh, du, part], [n]; part [chunks, n] gets sum_rows dz (t - h).
 * dz = inv (dy - y sum(y dy)); t = u invU; dh = dz (1 - |a|); du = invU (dz |a| - t sum(t dt)).
 */
void dm_lerpNormToGrad(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  const float *dy = F(0), *y = F(1), *inv = F(2), *h = F(3), *u = F(4), *invU = F(5), *a = F(6);
  float *dh = F(7), *du = F(8);
  const int n = (int)sc[0];
  double *acc = D(9) + (size_t)chunk * n;
  float abs_a[n];
  for (int j = 0; j < n; j++) abs_a[j] = fabsf(a[j]);
  for (int r = lo; r < hi; r++) {
    const size_t o = (size_t)r * n;
    const float k = inv[r], ku = invU[r];
    double c = 0, e1 = 0, e2 = 0;
#pragma omp simd reduction(+ : c, e1, e2)
    for (int j = 0; j < n; j++) {
      const float w = u[o + j] * abs_a[j];
      c += (double)y[o + j] * dy[o + j];
      e1 += (double)w * dy[o + j];
      e2 += (double)w * y[o + j];
    }
    const float cf = (float)c, ct = (float)(ku * k * (e1 - c * e2)); /* sum(t dt) */
#pragma omp simd
    for (int j = 0; j < n; j++) {
      const float dz = k * (dy[o + j] - cf * y[o + j]), t = u[o + j] * ku;
      dh[o + j] = dz * (1 - abs_a[j]);
      du[o + j] = ku * (dz * abs_a[j] - ct * t);
      acc[j] += (double)(dz * (t - h[o + j]));
    }
  }
}

/* --- q/k path: y = Norm_head(RoPE(x)) * s; units (b, t) rows of H heads ------------------- */

/* [x, cos, sin, s, y, nrm, inv], [T, H, dk]. */
void dm_ropeNormScale(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *x = F(0), *cs = F(1), *sn = F(2), *s = F(3);
  float *y = F(4), *nrm = F(5), *inv = F(6);
  const int T = (int)sc[0], H = (int)sc[1], dk = (int)sc[2];
  for (int bt = lo; bt < hi; bt++) {
    const float *c = cs + (size_t)(bt % T) * dk, *si = sn + (size_t)(bt % T) * dk;
    for (int hh = 0; hh < H; hh++) {
      const size_t o = ((size_t)bt * H + hh) * dk;
      double q = 0;
      for (int i = 0; i < dk; i += 2) {
        const float x0 = x[o + i], x1 = x[o + i + 1];
        const float r0 = x0 * c[i] + x1 * si[i], r1 = x1 * c[i + 1] + x0 * si[i + 1];
        nrm[o + i] = r0, nrm[o + i + 1] = r1;
        q += (double)r0 * r0 + (double)r1 * r1;
      }
      const float k = (float)(1.0 / sqrt(q));
      inv[(size_t)bt * H + hh] = k;
      const float *sh = s + (size_t)hh * dk;
#pragma omp simd
      for (int j = 0; j < dk; j++) {
        const float v = nrm[o + j] * k;
        nrm[o + j] = v;
        y[o + j] = v * sh[j];
      }
    }
  }
}

/*
 * [dy, nrm, inv, s, cos, sin, dx, part], [T, H, dk]; part [chunks, H*dk] gets ds = sum dy n.
 * dn = dy s; dr = inv (dn - n sum(n dn)); dx = RoPE^-1(dr).
 */
void dm_ropeNormScaleGrad(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  const float *dy = F(0), *nrm = F(1), *inv = F(2), *s = F(3), *cs = F(4), *sn = F(5);
  float *dx = F(6);
  const int T = (int)sc[0], H = (int)sc[1], dk = (int)sc[2], hd = H * dk;
  double *acc = D(7) + (size_t)chunk * hd;
  for (int bt = lo; bt < hi; bt++) {
    const float *c = cs + (size_t)(bt % T) * dk, *si = sn + (size_t)(bt % T) * dk;
    for (int hh = 0; hh < H; hh++) {
      const size_t o = ((size_t)bt * H + hh) * dk;
      const float *sh = s + (size_t)hh * dk;
      double *ah = acc + (size_t)hh * dk;
      double cc = 0;
#pragma omp simd reduction(+ : cc)
      for (int j = 0; j < dk; j++) {
        const float g = dy[o + j], nj = nrm[o + j], d = g * sh[j];
        ah[j] += (double)(g * nj);
        dx[o + j] = d;
        cc += (double)nj * d;
      }
      const float k = inv[(size_t)bt * H + hh], cf = (float)cc;
      for (int i = 0; i < dk; i += 2) {
        const float r0 = k * (dx[o + i] - cf * nrm[o + i]), r1 = k * (dx[o + i + 1] - cf * nrm[o + i + 1]);
        dx[o + i] = r0 * c[i] + r1 * si[i + 1];
        dx[o + i + 1] = r1 * c[i + 1] + r0 * si[i];
      }
    }
  }
}

/* --- SwiGLU: g = (a s_u) SiLU(nu), nu = b s_nu c ------------------------------------------ */

/* [a, b, su, snu, g], [n, c]: the forward in one pass (nothing saved but a and b). */
void dm_swiglu(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *a = F(0), *b = F(1), *su = F(2), *snu = F(3);
  float *g = F(4);
  const int n = (int)sc[0];
  float snc[n];
  for (int j = 0; j < n; j++) snc[j] = snu[j] * (float)sc[1];
  for (int r = lo; r < hi; r++) {
    const size_t o = (size_t)r * n;
#pragma omp simd
    for (int j = 0; j < n; j++) {
      const float nu = b[o + j] * snc[j];
      g[o + j] = a[o + j] * su[j] * (nu * sigmoid_f(nu));
    }
  }
}

/*
 * Rows [lo, hi) of the gradient: du = dg SiLU(nu); dnu = dg a s_u sg (1 + nu (1 - sg));
 * da = du s_u; db = dnu s_nu c; accU, accN get sum du a and sum dnu b. nu and sg =
 * sigmoid(nu) are read when saved (non-NULL), else computed from b.
 */
static inline void swiglu_grad_rows(const float *dg, const float *a, const float *b, const float *su,
                                    const float *snu, const float *nu, const float *sg, float *da, float *db,
                                    double *accU, double *accN, int n, float c, int lo, int hi) {
  float snc[n];
  for (int j = 0; j < n; j++) snc[j] = snu[j] * c;
  for (int r = lo; r < hi; r++) {
    const size_t o = (size_t)r * n;
#pragma omp simd
    for (int j = 0; j < n; j++) {
      const float x = nu ? nu[o + j] : b[o + j] * snc[j], s = sg ? sg[o + j] : sigmoid_f(x);
      const float g = dg[o + j], aj = a[o + j], du = g * x * s;
      da[o + j] = du * su[j];
      accU[j] += (double)(du * aj);
      const float dnu = g * aj * su[j] * s * (1 + x * (1 - s));
      db[o + j] = dnu * snc[j];
      accN[j] += (double)(dnu * b[o + j]);
    }
  }
}

/* [dg, a, b, su, snu, da, db, partU, partN], [n, c]: the gradient recomputing nu and sg from b. */
void dm_swigluGradFromInputs(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  const int n = (int)sc[0];
  swiglu_grad_rows(F(0), F(1), F(2), F(3), F(4), NULL, NULL, F(5), F(6), D(7) + (size_t)chunk * n,
                   D(8) + (size_t)chunk * n, n, (float)sc[1], lo, hi);
}

/* [dg, a, b, su, snu, nu, sg, da, db, partU, partN], [n, c]: the same from saved nu, sg. */
void dm_swigluGrad(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  const int n = (int)sc[0];
  swiglu_grad_rows(F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), D(9) + (size_t)chunk * n,
                   D(10) + (size_t)chunk * n, n, (float)sc[1], lo, hi);
}

/* --- Causal attention on head views (OpenBLAS); units: heads (b, h) ------------------------ */

/*
 * [q, k, mask, end, p], [T, H, dk, scale, c]: P = softmax(scale Q K^T + mask) per head, each
 * row i over columns [0, end[i]) (zero past it; a row with end 0 is all zero). c: causal split
 * (rows [0, c) only meet columns [0, c)).
 */
void dm_attnProbs(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *q = F(0), *k = F(1), *mask = F(2);
  const int32_t *end = I(3);
  float *p = F(4);
  const int T = (int)sc[0], H = (int)sc[1], dk = (int)sc[2], c = (int)sc[4], D = H * dk;
  const float scale = (float)sc[3];
  for (int bh = lo; bh < hi; bh++) {
    const size_t base = (size_t)(bh / H) * T * D + (size_t)(bh % H) * dk;
    float *s = p + (size_t)bh * T * T;
    memcpy(s, mask, sizeof(float) * T * T); /* S = mask, then S += scale Q K^T */
    mm(0, 1, c, c, dk, scale, q + base, D, k + base, D, 1, s, T);
    mm(0, 1, T - c, T, dk, scale, q + base + (size_t)c * D, D, k + base, D, 1, s + (size_t)c * T, T);
    for (int i = 0; i < T; i++) {
      float *row = s + (size_t)i * T;
      const int e = end[i];
      float m = -INFINITY;
      for (int j = 0; j < e; j++) m = row[j] > m ? row[j] : m;
      float z = 0;
#pragma omp simd reduction(+ : z)
      for (int j = 0; j < e; j++) {
        const float ex = exp_f(row[j] - m);
        row[j] = ex;
        z += ex;
      }
      const float iz = 1.0f / z;
#pragma omp simd
      for (int j = 0; j < e; j++) row[j] *= iz;
      for (int j = e; j < T; j++) row[j] = 0;
    }
  }
}

/*
 * [dy, p, q, k, v, end, dq, dk, dv], [T, H, dk, scale, c].
 * dP = dY V^T; dS = scale P (dP - rowsum(dP P)); dQ = dS K; dK = dS^T Q; dV = P^T dY.
 */
void dm_attnGrad(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *dy = F(0), *p = F(1), *q = F(2), *k = F(3), *v = F(4);
  const int32_t *end = I(5);
  float *dq = F(6), *dkk = F(7), *dv = F(8);
  const int T = (int)sc[0], H = (int)sc[1], dk = (int)sc[2], c = (int)sc[4], D = H * dk, r = T - c;
  const float scale = (float)sc[3];
  float *ds = scratch_of((size_t)T * T);
  if (!ds) abort();
  for (int bh = lo; bh < hi; bh++) {
    const size_t base = (size_t)(bh / H) * T * D + (size_t)(bh % H) * dk, lo2 = base + (size_t)c * D;
    const float *pb = p + (size_t)bh * T * T;
    /* dP (rows [0, c) only need columns [0, c)) */
    mm(0, 1, c, c, dk, 1, dy + base, D, v + base, D, 0, ds, T);
    mm(0, 1, r, T, dk, 1, dy + lo2, D, v + base, D, 0, ds + (size_t)c * T, T);
    for (int i = 0; i < T; i++) {
      float *d = ds + (size_t)i * T;
      const float *pr = pb + (size_t)i * T;
      const int e = end[i];
      const float cc = (float)dotd(d, pr, e);
#pragma omp simd
      for (int j = 0; j < e; j++) d[j] = scale * pr[j] * (d[j] - cc);
      for (int j = e; j < T; j++) d[j] = 0;
    }
    mm(0, 0, c, dk, c, 1, ds, T, k + base, D, 0, dq + base, D); /* dQ = dS K */
    mm(0, 0, r, dk, T, 1, ds + (size_t)c * T, T, k + base, D, 0, dq + lo2, D);
    mm(1, 0, c, dk, T, 1, ds, T, q + base, D, 0, dkk + base, D); /* dK = dS^T Q */
    mm(1, 0, r, dk, r, 1, ds + (size_t)c * T + c, T, q + lo2, D, 0, dkk + lo2, D);
    mm(1, 0, c, dk, T, 1, pb, T, dy + base, D, 0, dv + base, D); /* dV = P^T dY */
    mm(1, 0, r, dk, r, 1, pb + (size_t)c * T + c, T, dy + lo2, D, 0, dv + lo2, D);
  }
}

/* --- Adam: [g, m, v, w], [b1, a1, b2, a2, stepSize, ibc2, eps, decay]; units: elements ------ */

void dm_adam(void *const *arr, const double *sc, int lo, int hi, int chunk) {
  (void)chunk;
  const float *g = F(0);
  float *m = F(1), *v = F(2), *w = F(3);
  const double b1 = sc[0], a1 = sc[1], b2 = sc[2], a2 = sc[3], step = sc[4], ibc2 = sc[5], eps = sc[6],
               decay = sc[7];
#pragma omp simd
  for (int i = lo; i < hi; i++) {
    /* m and v are stored in float; the step uses them before that rounding (as the TS task). */
    const double gi = g[i], mi = b1 * m[i] + a1 * gi, vi = b2 * v[i] + a2 * gi * gi;
    m[i] = (float)mi, v[i] = (float)vi;
    w[i] = (float)(w[i] - (step * mi / (sqrt(vi) * ibc2 + eps) + decay * w[i]));
  }
}
