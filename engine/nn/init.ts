/** Parameter initialization from a seeded generator: identical on every machine and backend. */
import { combineSeeds, hashString, mulberry32 } from "../core/random.ts";
import type { Init } from "../core/contracts.ts";

/** Standard normal samples (Box-Muller) from a seeded mulberry32 stream. */
export function normals(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = rand() || 1e-12, u2 = rand();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Scales every vector along `axis` of a row-major [rows, cols] matrix to unit L2 norm. */
export function normalizeAlong(data: Float32Array, shape: number[], axis: 0 | 1): void {
  const [rows, cols] = shape.length === 2 ? shape : [1, shape[0]];
  if (axis === 1) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      const o = r * cols;
      for (let c = 0; c < cols; c++) s += data[o + c] * data[o + c];
      const inv = 1 / Math.sqrt(s);
      for (let c = 0; c < cols; c++) data[o + c] *= inv;
    }
  } else {
    const sums = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) sums[c] += data[o + c] * data[o + c];
    }
    for (let c = 0; c < cols; c++) sums[c] = 1 / Math.sqrt(sums[c]);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) data[o + c] *= sums[c];
    }
  }
}

/** Gram-Schmidt orthogonal [rows, cols] matrix (orthonormal rows or columns, whichever fits) times gain. */
function orthogonal(shape: number[], seed: number, gain: number): Float32Array {
  const [rows, cols] = shape;
  const tall = rows >= cols;
  const n = tall ? cols : rows, m = tall ? rows : cols; // n orthonormal vectors of length m
  const v = normals(n * m, seed);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let dot = 0;
      for (let k = 0; k < m; k++) dot += v[i * m + k] * v[j * m + k];
      for (let k = 0; k < m; k++) v[i * m + k] -= dot * v[j * m + k];
    }
    let s = 0;
    for (let k = 0; k < m; k++) s += v[i * m + k] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let k = 0; k < m; k++) v[i * m + k] *= inv;
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < m; k++) {
      // tall: vectors are columns; wide: vectors are rows.
      out[tall ? k * cols + i : i * cols + k] = gain * v[i * m + k];
    }
  }
  return out;
}

/** The initial values of one parameter, seeded by (seed, parameter name). */
export function initialValues(
  name: string,
  shape: number[],
  init: Init,
  seed: number,
  embedAxis?: 0 | 1,
): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const s = combineSeeds(seed, hashString(name));
  switch (init.dist) {
    case "zeros":
      return new Float32Array(n);
    case "constant":
      return new Float32Array(n).fill(init.value);
    case "normal": {
      const v = normals(n, s);
      for (let i = 0; i < n; i++) v[i] *= init.std;
      return v;
    }
    case "unit-norm": {
      const v = normals(n, s);
      normalizeAlong(v, shape, embedAxis ?? 1);
      return v;
    }
    case "orthogonal":
      return orthogonal(shape, s, init.gain);
  }
}
