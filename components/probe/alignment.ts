/**
 * Alignment exponents (Everett et al. arXiv 2407.05872; nuGPT Def. 3.1;
 * docs/reference.md section 3). For a matrix W (d_out x d_in, stored (out, in),
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
import { readProbeCSV } from "../../engine/train/probe.ts";
import { leastSquares } from "../../engine/core/least_squares.ts";
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
  const ls = leastSquares(xs.map((x) => [x]), ys);
  if (!ls) return null;
  // Equal ratios at every width: a flat line fits them exactly.
  return { exponent: ls.coef[1], r2: Number.isNaN(ls.r2) ? 1 : ls.r2, n };
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

/** One measurement of a trial: its step, the loss at that step, and a value measured then. */
export interface LossPoint {
  step: number;
  loss: number;
  value: number;
}

/**
 * The loss-decrease-weighted average of a value over training (nuGPT section
 * 4.3: the exponents "weighted by the loss decrease", i.e. averaged against
 * the loss-decrease axis of its figure 5, which leans on early training).
 * The interval between consecutive measurements k-1 and k weighs
 * max(0, loss_{k-1} - loss_k) and carries the value measured at its end, k;
 * intervals whose value is not finite are skipped. Null when no weight is left.
 *
 * @example
 * ```ts
 * lossWeightedAverage([{ step: 0, loss: 5, value: NaN }, { step: 10, loss: 4, value: 0.8 }]); // {value: 0.8, ...}
 * ```
 */
export function lossWeightedAverage(
  points: LossPoint[],
): { value: number; weight: number; n: number } | null {
  const p = [...points].filter((x) => Number.isFinite(x.loss)).sort((a, b) => a.step - b.step);
  let sw = 0, swx = 0, n = 0;
  for (let k = 1; k < p.length; k++) {
    const w = Math.max(0, p[k - 1].loss - p[k].loss);
    if (!(w > 0) || !Number.isFinite(p[k].value)) continue;
    sw += w, swx += w * p[k].value, n++;
  }
  return sw > 0 ? { value: swx / sw, weight: sw, n } : null;
}

/** The quantities averaged by {@link weightedAlignment}. */
export const WEIGHTED_QUANTITIES = ["alpha", "omega", "nu", "max_alpha_nu"] as const;

/** One loss-decrease-weighted average of an exponent over training. */
export interface WeightedExponent {
  /** `local`: one model's log(ratio) / log(d_in); `across-width`: the slope over widths. */
  method: "local" | "across-width";
  /** The trial's width (local), or null (across-width). */
  width: number | null;
  /** A matrix role, or `hidden` (the mean over every role but the readout at each step). */
  role: string;
  quantity: typeof WEIGHTED_QUANTITIES[number];
  value: number;
  /** Total loss decrease that weighed it, and the number of intervals used. */
  weight: number;
  n: number;
}

type Series = Map<number, Map<string, number>>;

/** Per step: alpha, omega, nu, max(alpha, nu) of each role, plus the `hidden` mean over non-readout roles. */
function roleQuantities(get: (e: ExponentName, role: string) => number, roles: string[]) {
  const out = new Map<string, Record<typeof WEIGHTED_QUANTITIES[number], number>>();
  for (const r of roles) {
    const a = get("alpha", r), o = get("omega", r), n = get("nu", r);
    out.set(r, { alpha: a, omega: o, nu: n, max_alpha_nu: Math.max(a, n) });
  }
  const hidden = roles.filter((r) => r !== "readout").map((r) => out.get(r)!);
  if (hidden.length) {
    const mean = (k: typeof WEIGHTED_QUANTITIES[number]) =>
      hidden.reduce((s, q) => s + q[k], 0) / hidden.length;
    out.set("hidden", {
      alpha: mean("alpha"),
      omega: mean("omega"),
      nu: mean("nu"),
      max_alpha_nu: mean("max_alpha_nu"),
    });
  }
  return out;
}

function averages(
  method: WeightedExponent["method"],
  width: number | null,
  steps: number[],
  loss: (step: number) => number,
  at: (step: number) => Map<string, Record<typeof WEIGHTED_QUANTITIES[number], number>>,
): WeightedExponent[] {
  const perStep = steps.map((s) => ({ step: s, loss: loss(s), q: at(s) }));
  const roles = [...new Set(perStep.flatMap((p) => [...p.q.keys()]))];
  const out: WeightedExponent[] = [];
  for (const role of roles) {
    for (const quantity of WEIGHTED_QUANTITIES) {
      const avg = lossWeightedAverage(
        perStep.map((p) => ({ step: p.step, loss: p.loss, value: p.q.get(role)?.[quantity] ?? NaN })),
      );
      if (avg) out.push({ method, width, role, quantity, ...avg });
    }
  }
  return out;
}

/**
 * Loss-decrease-weighted averages of alpha, omega, nu and max(alpha, nu)
 * (the quantity whose average justifies nuGPT's -3/4, docs/reference.md section 2)
 * per role: for each trial from its single-model exponents, and across widths
 * from the fitted slopes (`fits`, from {@link alignmentAcrossWidths}) weighted
 * by the loss decrease averaged over the trials. The loss is the probe's
 * `probe_loss` column (the loss on the probe batch).
 */
export async function weightedAlignment(
  dirs: string[],
  fits: ExponentFit[],
  probe = "alignment",
): Promise<WeightedExponent[]> {
  const out: WeightedExponent[] = [];
  const losses: Map<number, number>[] = [];
  for (const dir of dirs) {
    const cfg = YAML.parse(await Deno.readTextFile(`${dir}/config.yaml`)) as { model?: { width?: number } };
    const { columns, rows } = await readProbeCSV(`${dir}/probes/${probe}.csv`);
    if (!columns.includes("probe_loss")) {
      throw new DmodelError(`${dir}/probes/${probe}.csv: no probe_loss column (measured by an older probe)`);
    }
    const table: Series = new Map(rows.map((r) => [r[0], new Map(columns.map((c, i) => [c, r[i]]))]));
    const roles = columns.filter((c) => c.startsWith("alpha.")).map((c) => c.slice("alpha.".length));
    const steps = [...table.keys()].sort((a, b) => a - b);
    losses.push(new Map(steps.map((s) => [s, table.get(s)!.get("probe_loss") ?? NaN])));
    out.push(...averages(
      "local",
      Number(cfg?.model?.width),
      steps,
      (s) => table.get(s)!.get("probe_loss") ?? NaN,
      (s) => roleQuantities((e, r) => table.get(s)!.get(`${e}.${r}`) ?? NaN, roles),
    ));
  }
  const bySteps = new Map<number, Map<string, number>>();
  for (const f of fits) {
    const m = bySteps.get(f.step) ?? bySteps.set(f.step, new Map()).get(f.step)!;
    m.set(`${f.exponent}.${f.role}`, f.value);
  }
  const fitRoles = [...new Set(fits.map((f) => f.role))];
  // Step 0 has no fit but its loss starts the first interval.
  const steps = [...new Set([0, ...bySteps.keys()])].sort((a, b) => a - b);
  const meanLoss = (s: number) => {
    const v = losses.map((l) => l.get(s)).filter((x): x is number => Number.isFinite(x));
    return v.length === losses.length && v.length ? v.reduce((a, b) => a + b) / v.length : NaN;
  };
  if (fits.length) {
    out.push(...averages(
      "across-width",
      null,
      steps,
      meanLoss,
      (s) => roleQuantities((e, r) => bySteps.get(s)?.get(`${e}.${r}`) ?? NaN, fitRoles),
    ));
  }
  return out;
}
