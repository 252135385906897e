/**
 * Alignment exponents (Everett et al. arXiv 2407.05872; nuGPT Def. 3.1;
 * REFERENCE.md section 3). For a matrix W (d_out x d_in, stored (out, in),
 * y = h W^T) applied to N input rows h (N x d_in), after an update
 * (W, h) -> (W + dW, h + dh):
 *
 *   ||dW h|| / sqrt(d_out)  ~ d_in^alpha * rms(dW) * rms(h)
 *   ||W dh|| / sqrt(d_out)  ~ d_in^omega * rms(W) * rms(dh)
 *   ||dW dh|| / sqrt(d_out) ~ d_in^nu    * rms(dW) * rms(dh)
 *
 * with rms(X) = ||X||_F / sqrt(numel) and, over N rows, ||Y|| / sqrt(d_out)
 * read as the RMS of the N x d_out product times sqrt(d_in)^0 (i.e.
 * ||Y||_F / sqrt(N d_out)). The ratio LHS / (rms rms) is ~ d_in^exponent: 1/2
 * when the factors are independent, 1 when fully aligned. The exponent is
 * the slope of log(ratio) against log(d_in) across widths
 * ({@link fitExponent}, {@link alignmentAcrossWidths}); a single model gives
 * the "local" estimate log(ratio) / log(d_in) (prefactor taken as 1).
 */
import YAML from "yaml";
import { DmodelError } from "../../engine/core/errors.ts";
import { readJSON } from "../../engine/core/fs.ts";

/** Any dense numeric array. */
type Arr = ArrayLike<number>;

/** The three exponents. */
export const EXPONENTS = ["alpha", "omega", "nu"] as const;
/** One of alpha, omega, nu. */
export type ExponentName = typeof EXPONENTS[number];

/** rms(X) = ||X||_F / sqrt(numel). */
export function rms(x: Arr): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return x.length ? Math.sqrt(s / x.length) : 0;
}

/**
 * RMS of the product Y = H M^T (H: n x din, M: dout x din), i.e.
 * ||Y||_F / sqrt(n dout) = the per-row ||y|| / sqrt(d_out) averaged in square.
 */
export function productRms(m: Arr, h: Arr, dout: number, din: number, n: number): number {
  let s = 0;
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < dout; o++) {
      let y = 0;
      for (let k = 0; k < din; k++) y += h[r * din + k] * m[o * din + k];
      s += y * y;
    }
  }
  return Math.sqrt(s / (n * dout));
}

/** ratio = productRms / (rms(a) rms(b)); NaN when a factor is zero. */
export function alignmentRatio(product: number, rmsA: number, rmsB: number): number {
  const den = rmsA * rmsB;
  return den > 0 ? product / den : NaN;
}

/** The three ratios of one matrix at one update, from host arrays (float64 math). */
export function alignmentRatios(
  w: Arr,
  dw: Arr,
  h: Arr,
  dh: Arr,
  dout: number,
  din: number,
  n: number,
): Record<ExponentName, number> {
  const rw = rms(w), rdw = rms(dw), rh = rms(h), rdh = rms(dh);
  return {
    alpha: alignmentRatio(productRms(dw, h, dout, din, n), rdw, rh),
    omega: alignmentRatio(productRms(w, dh, dout, din, n), rw, rdh),
    nu: alignmentRatio(productRms(dw, dh, dout, din, n), rdw, rdh),
  };
}

/** Single-width estimate log(ratio) / log(d_in) (assumes the prefactor is 1). */
export function localExponent(ratio: number, din: number): number {
  return ratio > 0 && din > 1 ? Math.log(ratio) / Math.log(din) : NaN;
}

/** Least-squares slope of log(ratio) against log(d_in), with r^2; null with fewer than 2 usable points. */
export function fitExponent(
  dins: number[],
  ratios: number[],
): { exponent: number; r2: number; n: number } | null {
  const xs: number[] = [], ys: number[] = [];
  for (let i = 0; i < dins.length; i++) {
    if (ratios[i] > 0 && Number.isFinite(ratios[i]) && dins[i] > 0) {
      xs.push(Math.log(dins[i])), ys.push(Math.log(ratios[i]));
    }
  }
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((a, b) => a + b) / n, my = ys.reduce((a, b) => a + b) / n;
  let sxx = 0, sxy = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
    syy += (ys[i] - my) ** 2;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  return { exponent: slope, r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : 1, n };
}

/** One fitted exponent of a matrix role at one step, across widths. */
export interface ExponentFit {
  step: number;
  role: string;
  exponent: ExponentName;
  value: number;
  r2: number;
  widths: number;
}

/** Reads a probe CSV: header + numeric rows. */
export async function readProbeCSV(path: string): Promise<{ columns: string[]; rows: number[][] }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new DmodelError(
      `${path}: cannot read the probe table (was the probe listed in the trial's probes?)`,
    );
  }
  const lines = text.split("\n").filter((l) => l.length > 0);
  const columns = lines[0].split(",");
  return { columns, rows: lines.slice(1).map((l) => l.split(",").map(Number)) };
}

/**
 * Fits alpha, omega and nu per matrix role and step across trials of
 * different widths (a sweep's trial directories, each with config.yaml and
 * probes/alignment.csv). The slope against log(width) equals the slope
 * against log(d_in), since d_in is a fixed multiple of the width per role.
 *
 * @example
 * ```ts
 * const fits = await alignmentAcrossWidths(["runs/a/w64", "runs/a/w128", "runs/a/w256"]);
 * ```
 */
export async function alignmentAcrossWidths(dirs: string[], probe = "alignment"): Promise<ExponentFit[]> {
  const perWidth: { width: number; table: Map<number, Map<string, number>> }[] = [];
  for (const dir of dirs) {
    const result = await readJSON<{ status: string }>(`${dir}/result.json`);
    if (result && result.status !== "ok") continue;
    let cfg: { model?: { width?: number } };
    try {
      cfg = YAML.parse(await Deno.readTextFile(`${dir}/config.yaml`));
    } catch {
      throw new DmodelError(`${dir}/config.yaml: cannot read the trial config`);
    }
    const width = Number(cfg?.model?.width);
    if (!(width > 0)) throw new DmodelError(`${dir}/config.yaml: model.width missing`);
    const { columns, rows } = await readProbeCSV(`${dir}/probes/${probe}.csv`);
    const table = new Map<number, Map<string, number>>();
    for (const r of rows) table.set(r[0], new Map(columns.map((c, i) => [c, r[i]])));
    perWidth.push({ width, table });
  }
  if (new Set(perWidth.map((p) => p.width)).size < 2) {
    throw new DmodelError(
      `alignment fit needs trials of at least two widths; got ${perWidth.map((p) => p.width)}`,
    );
  }
  const steps = [...perWidth[0].table.keys()].filter((s) => perWidth.every((p) => p.table.has(s))).sort((
    a,
    b,
  ) => a - b);
  const ratioCols = [...perWidth[0].table.values().next().value!.keys()].filter((c) =>
    c.startsWith("ratio_")
  );
  const out: ExponentFit[] = [];
  for (const step of steps) {
    for (const col of ratioCols) {
      const [head, ...rest] = col.split(".");
      const exponent = head.slice("ratio_".length) as ExponentName;
      const fit = fitExponent(
        perWidth.map((p) => p.width),
        perWidth.map((p) => p.table.get(step)!.get(col) ?? NaN),
      );
      if (fit) {
        out.push({ step, role: rest.join("."), exponent, value: fit.exponent, r2: fit.r2, widths: fit.n });
      }
    }
  }
  return out;
}
