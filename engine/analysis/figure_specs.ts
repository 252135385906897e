/**
 * The figures of a sweep as Vega-Lite specs (rendered by ./render.ts). Marks
 * use fillOpacity / strokeOpacity, not opacity: resvg renders an element with
 * `opacity` in its own layer; and no mark is clipped (values are clamped to
 * the axis instead): resvg's clip paths made the training-curves PNG ~10x
 * slower.
 *
 * - loss vs LR (log2 axis), one panel per family, one colour per scale: every
 *   seed's loss as a point (offset sideways per scale so none hides another),
 *   the seed-adjusted mean, the fitted basin with eta* and its interval,
 *   every diverged trial as a cross along the top edge (one slot per scale and
 *   seed), partially diverged LRs ringed, points above the y-range drawn as
 *   triangles on its edge;
 * - eta* vs scale (log-log): eta* with its interval, the grid optimum, the
 *   grid's LRs as horizontal lines, a slope-0 reference through the base
 *   scale's eta*, the fitted law and its band;
 * - training curves: train (thin) and val (points and line) loss per trial,
 *   coloured by LR, y-range set by the finite losses below the initial loss.
 */
import { DmodelError } from "../core/errors.ts";
import { basinValue } from "./basin.ts";
import { SEQUENTIAL_SCHEME, VEGA_THEME } from "./theme.ts";
import type { GroupOptimum, Optima } from "./optimum.ts";
import { shortName } from "./naming.ts";
import { fmtLevel } from "./format.ts";
import { predictLR, type ScalingFit } from "./fit.ts";
import type { VegaLiteSpec } from "./render.ts";

/** One point of a training curve, for `trainingCurvesSpec`. */
export interface TrainingPoint {
  /** The trial's family name. */
  family: string;
  /** The trial's scale label, as its group has it ("16", "width=256, depth=4"). */
  label: string;
  /** The trial's id (results.csv `trial_id`). */
  trial_id: string;
  /** log2 of the trial's learning rate. */
  log2_lr: number;
  /** Training step of the point (steps). */
  step: number;
  /** Which loss: the logged train loss or the evaluated val loss. */
  split: "train" | "val";
  /** The loss (may be Infinity or huge for a diverging run). */
  loss: number;
  /** The trial ended diverged. */
  diverged?: boolean;
}

/** Axis title of a scale axis, "width" for `model.width`. */
function axisName(scale: string[]): string {
  return scale.length === 1 ? shortName(scale[0]) : scale.length ? "scale" : "group";
}

/**
 * The loss axis: from the lowest loss to where the basins' near points end
 * (3x the median rise above the minimum), so the minima stay readable; what
 * lies above is drawn on the edge.
 */
function lossDomain(values: number[]): [number, number] {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return [0, 1];
  const lo = v[0], med = v[Math.floor(v.length / 2)], max = v[v.length - 1];
  let hi = Math.min(max, lo + 3 * (med - lo));
  if (!(hi > lo)) hi = lo + Math.max(1e-3, Math.abs(lo) * 0.01);
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

/** Sideways offsets of the points at one LR: scales spread over 40% of a grid step, seeds within a scale's slot. */
interface Offsets {
  /** Offset of a scale's points (log2 LR). */
  scale: (label: string) => number;
  /** Offset of the k-th seed within its scale's slot. */
  seed: (k: number) => number;
}

/** The sideways offsets of a loss-vs-LR figure from its smallest LR step, scales and seeds per scale. */
function sidewaysOffsets(optima: Optima, labels: string[]): Offsets {
  const step = Math.min(
    ...optima.groups.flatMap((g) => g.curve.slice(1).map((p, i) => p.log2_lr - g.curve[i].log2_lr)),
    1,
  );
  const nl = labels.length;
  const slot = (0.4 * step) / Math.max(1, nl);
  const maxSeeds = Math.max(1, ...optima.groups.map((g) => g.n_seeds));
  return {
    scale: (label) => (labels.indexOf(label) - (nl - 1) / 2) * slot,
    seed: (k) => (k - (maxSeeds - 1) / 2) * slot / (maxSeeds + 1),
  };
}

/**
 * A group's trials as figure rows at each LR: every seed's loss ("seed", or
 * "above" on the top of the range), the seed-adjusted mean ("mean", or
 * "partial" where some seeds diverged) and each diverged seed ("diverged",
 * one row per seed below the top edge).
 */
function trialRows(
  g: GroupOptimum,
  offsets: Offsets,
  [ylo, yhi]: [number, number],
): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const base = { family: g.family, label: g.label };
  const seedIndex = new Map(g.seeds.map((s, i) => [s.seed, i]));
  for (const p of g.curve) {
    const dx = offsets.scale(g.label);
    for (const s of p.seed_losses) {
      const out = s.loss > yhi;
      rows.push({
        ...base,
        kind: out ? "above" : "seed",
        x: p.log2_lr + dx + offsets.seed(seedIndex.get(s.seed) ?? 0),
        loss: out ? yhi : s.loss,
        seed: String(s.seed),
        value: s.loss,
      });
    }
    if (p.n_ok > 0 && Number.isFinite(p.loss) && p.loss <= yhi) {
      rows.push({ ...base, kind: p.n_diverged > 0 ? "partial" : "mean", x: p.log2_lr + dx, loss: p.loss });
    }
    for (const s of g.seeds) {
      const j = g.curve.indexOf(p);
      if (s.diverged[j] > 0) {
        const k = seedIndex.get(s.seed) ?? 0;
        rows.push({
          ...base,
          kind: "diverged",
          x: p.log2_lr + dx,
          loss: yhi - (yhi - ylo) * 0.035 * (1 + k),
          seed: String(s.seed),
        });
      }
    }
  }
  return rows;
}

/** A group's fitted basin over the LRs it used ("fit") and its eta* with the interval ("optimum"). */
function fitRows(g: GroupOptimum, yhi: number): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const base = { family: g.family, label: g.label };
  const f = g.fit;
  if (f && f.model !== "grid" && f.bracketed) {
    const xsUsed = g.curve.filter((p) => (p.n_ok > 0 && Number.isFinite(p.loss)) || p.n_diverged > 0)
      .map((p) => p.log2_lr);
    const a = Math.min(...f.used.map((i) => xsUsed[i])), b = Math.max(...f.used.map((i) => xsUsed[i]));
    for (let i = 0; i <= 40; i++) {
      const x = a + (b - a) * i / 40;
      const y = basinValue(f, x);
      if (y <= yhi) rows.push({ ...base, kind: "fit", x, loss: y });
    }
  }
  if (Number.isFinite(g.log2_eta)) {
    rows.push({
      ...base,
      kind: "optimum",
      x: g.log2_eta,
      loss: Math.min(yhi, g.loss_star_fit),
      lo: Number.isFinite(g.eta_ci[0]) ? Math.log2(g.eta_ci[0]) : g.log2_eta,
      hi: Number.isFinite(g.eta_ci[1]) ? Math.log2(g.eta_ci[1]) : g.log2_eta,
      bracketed: g.bracketed ? "yes" : "no (edge of grid)",
    });
  }
  return rows;
}

/**
 * Loss against log2 LR, one panel per family (see the module header).
 *
 * @example
 * ```ts
 * const svg = await renderSVG(lossVsLRSpec(optimalLR(trials)));
 * ```
 */
export function lossVsLRSpec(optima: Optima): VegaLiteSpec {
  const labels: string[] = [];
  for (const g of optima.groups) if (!labels.includes(g.label)) labels.push(g.label);
  const domain = lossDomain(
    optima.groups.flatMap((g) => g.curve.flatMap((p) => p.seed_losses.map((s) => s.loss))),
  );
  const offsets = sidewaysOffsets(optima, labels);
  const rows = optima.groups.flatMap((g) => [...trialRows(g, offsets, domain), ...fitRows(g, domain[1])]);
  const above = rows.filter((r) => r.kind === "above").length;
  const color = {
    field: "label",
    type: "ordinal",
    title: axisName(optima.scale),
    scale: { domain: labels, scheme: SEQUENTIAL_SCHEME },
    // Legend entries as key=value ("width=16"); several axes' labels already read so.
    ...(optima.scale.length === 1
      ? { legend: { labelExpr: `'${axisName(optima.scale)}=' + datum.label` } }
      : {}),
  };
  const x = {
    field: "x",
    type: "quantitative",
    title: "learning rate (log2)",
    axis: { tickMinStep: 1, labelExpr: "'2^' + datum.value" },
    scale: { zero: false, nice: false, padding: 8 },
  };
  const y = {
    field: "loss",
    type: "quantitative",
    title: optima.loss.replaceAll("_", " "),
    scale: { zero: false, domain, nice: false },
  };
  const subtitle = [
    "dots: each seed; line: seed-adjusted mean; dashed: fitted basin; diamond + bar: eta* and its " +
    `${fmtLevel(optima.level)} interval`,
    "x on the top edge: one diverged trial (one row per seed); ring: LR where some seeds diverged" +
    (above ? `; triangles: ${above} losses above the range` : ""),
  ];
  return {
    data: { values: rows },
    config: VEGA_THEME,
    title: { text: "Loss vs learning rate", subtitle },
    facet: { column: { field: "family", type: "nominal", title: null } },
    resolve: { scale: { x: "shared", y: "shared" } },
    spec: { width: 340, height: 250, layer: lossVsLRLayers(x, y, color) },
  };
}

/** The layers of a loss-vs-LR panel, one per kind of row, drawn in this order. */
function lossVsLRLayers(
  x: Record<string, unknown>,
  y: Record<string, unknown>,
  color: Record<string, unknown>,
) {
  const only = (k: string) => [{ filter: `datum.kind === '${k}'` }];
  return [
    {
      transform: only("mean"),
      mark: { type: "line", strokeWidth: 1.5, strokeOpacity: 0.8 },
      encoding: { x, y, color },
    },
    {
      transform: only("fit"),
      mark: { type: "line", strokeDash: [4, 3], strokeWidth: 2 },
      encoding: { x, y, color },
    },
    {
      transform: only("seed"),
      mark: { type: "point", filled: true, size: 18, fillOpacity: 0.75 },
      encoding: { x, y, color, tooltip: [{ field: "seed" }, { field: "value" }] },
    },
    {
      transform: only("partial"),
      mark: { type: "point", filled: false, size: 160, strokeWidth: 1.5 },
      encoding: { x, y, color },
    },
    {
      transform: only("above"),
      mark: { type: "point", shape: "triangle-up", filled: true, size: 45 },
      encoding: { x, y, color },
    },
    {
      transform: only("diverged"),
      mark: { type: "point", shape: "cross", angle: 45, size: 50, filled: true },
      encoding: { x, y, color },
    },
    {
      transform: only("optimum"),
      mark: { type: "rule", strokeWidth: 2 },
      encoding: { x: { ...x, field: "lo" }, x2: { field: "hi" }, y, color },
    },
    {
      transform: only("optimum"),
      mark: { type: "point", shape: "diamond", size: 130, filled: true, stroke: "black", strokeWidth: 1 },
      encoding: {
        x,
        y,
        color,
        opacity: {
          field: "bracketed",
          type: "ordinal",
          title: "optimum bracketed",
          scale: { domain: ["yes", "no (edge of grid)"], range: [1, 0.3] },
        },
      },
    },
  ];
}

/**
 * eta* against one scale axis on log-log (log2) axes (see the module
 * header); the verdicts as subtitle. `minSpan`: the y axis spans at least
 * this many octaves (default: just the data).
 *
 * @example
 * ```ts
 * const spec = etaVsScaleSpec(optima, fitScaling(optima), "model.width", { minSpan: 3 });
 * ```
 */
export function etaVsScaleSpec(
  optima: Optima,
  fits: ScalingFit[],
  axis: string,
  opts: { minSpan?: number } = {},
): VegaLiteSpec {
  if (!optima.scale.includes(axis)) {
    throw new DmodelError(`etaVsScaleSpec: ${axis} is not a scale axis (${optima.scale.join(", ")})`);
  }
  const families = [...new Set(optima.groups.map((g) => g.family))];
  const law = lawRows(optima, fits, axis);
  const rows = [...optimumRows(optima, axis, families), ...law.rows, ...flatRows(optima, axis, families)];
  const [ymin, ymax] = etaDomain(rows, opts.minSpan ?? 0);
  const gridLRs = new Set(optima.groups.flatMap((g) => g.curve.map((p) => p.log2_lr)));
  for (const v of gridLRs) if (v >= ymin && v <= ymax) rows.push({ kind: "gridline", y: v });
  const values = [...new Set(optima.groups.map((g) => Math.log2(g.scale[axis])))];
  const name = shortName(axis);
  const x = {
    field: "x",
    type: "quantitative",
    title: `${name} (log2 axis)`,
    scale: { zero: false, nice: false, padding: 16 },
    axis: { values, labelExpr: "format(pow(2, datum.value), ',.4~r')", grid: false },
  };
  const color = {
    field: "family",
    type: "nominal",
    title: "family",
    scale: { domain: families },
    legend: { symbolOpacity: 1, symbolType: "circle", labelLimit: 400 },
  };
  const etaY = {
    field: "y",
    type: "quantitative",
    title: "optimal LR η* (log2 axis)",
    scale: { zero: false, domain: [ymin, ymax], nice: false },
    axis: { tickMinStep: 0.5, labelExpr: "'2^' + datum.value", grid: false },
  };
  const subtitle = [
    ...law.subtitle,
    "dots + bars: eta* and its interval (hollow: edge of grid, not fitted); small squares: grid arg-min;",
    "grey lines: the LR grid; dotted: slope 0 through the base scale; line + band: fitted law",
  ];
  return {
    data: { values: rows },
    config: VEGA_THEME,
    width: 460,
    height: 320,
    title: { text: `Optimal learning rate vs ${name}`, subtitle },
    layer: etaVsScaleLayers(x, etaY, color),
  };
}

/** Each group's eta* with its interval ("point", offset sideways per family) and its grid arg-min ("grid"). */
function optimumRows(optima: Optima, axis: string, families: string[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const nf = families.length;
  for (const g of optima.groups) {
    if (!Number.isFinite(g.log2_eta)) continue;
    const dx = (families.indexOf(g.family) - (nf - 1) / 2) * 0.06;
    const xv = Math.log2(g.scale[axis]) + dx;
    rows.push({
      kind: "point",
      family: g.family,
      x: xv,
      y: g.log2_eta,
      lo: Number.isFinite(g.eta_ci[0]) ? Math.log2(g.eta_ci[0]) : g.log2_eta,
      hi: Number.isFinite(g.eta_ci[1]) ? Math.log2(g.eta_ci[1]) : g.log2_eta,
      bracketed: g.bracketed ? "yes" : "no",
    });
    if (Number.isFinite(g.eta_star_grid)) {
      rows.push({ kind: "grid", family: g.family, x: xv, y: Math.log2(g.eta_star_grid) });
    }
  }
  return rows;
}

/** Each fitted law with its band over the family's scales ("fit"); its verdict (or why none) as a subtitle line. */
function lawRows(
  optima: Optima,
  fits: ScalingFit[],
  axis: string,
): { rows: Record<string, unknown>[]; subtitle: string[] } {
  const rows: Record<string, unknown>[] = [];
  const subtitle: string[] = [];
  for (const f of fits) {
    const c = f.coefficients.find((c) => c.scale === axis);
    if (!c) {
      if (f.note) subtitle.push(`${f.family}: ${f.note}`);
      continue;
    }
    subtitle.push(`${f.family}: ${c.verdict.replace(/ \(the .*$|, more .*$/, "")}`);
    const xs = optima.groups.filter((g) => g.family === f.family).map((g) => Math.log2(g.scale[axis]));
    const [a, b] = [Math.min(...xs), Math.max(...xs)];
    for (let i = 0; i <= 40; i++) {
      const xv = a + (b - a) * i / 40;
      const p = predictLR(f, { [axis]: 2 ** xv });
      rows.push({
        kind: "fit",
        family: f.family,
        x: xv,
        y: Math.log2(p.eta_star),
        lo: Number.isFinite(p.eta_lo) ? Math.log2(p.eta_lo) : null,
        hi: Number.isFinite(p.eta_hi) ? Math.log2(p.eta_hi) : null,
      });
    }
  }
  return { rows, subtitle };
}

/** Slope-0 reference: a flat line through each family's base-scale eta* ("flat"). */
function flatRows(optima: Optima, axis: string, families: string[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const fam of families) {
    const gs = optima.groups.filter((g) => g.family === fam && Number.isFinite(g.log2_eta));
    if (!gs.length) continue;
    const base = gs.reduce((m, g) => (g.scale[axis] < m.scale[axis] ? g : m));
    const xs = gs.map((g) => Math.log2(g.scale[axis]));
    for (const xv of [Math.min(...xs), Math.max(...xs)]) {
      rows.push({ kind: "flat", family: fam, x: xv, y: base.log2_eta });
    }
  }
  return rows;
}

/** The eta* axis: the rows' values and intervals with 0.3 octaves of margin, at least `minSpan` octaves tall. */
function etaDomain(rows: Record<string, unknown>[], minSpan: number): [number, number] {
  const ys = rows.flatMap((r) => [r.y, r.lo, r.hi]).filter((v): v is number => typeof v === "number");
  const [ymin, ymax] = [Math.min(...ys) - 0.3, Math.max(...ys) + 0.3];
  // At least `minSpan` octaves tall, so differences far inside the noise do not fill the panel.
  const grow = Math.max(0, minSpan - (ymax - ymin)) / 2;
  return [ymin - grow, ymax + grow];
}

/** The layers of the eta*-vs-scale panel, one per kind of row, drawn in this order. */
function etaVsScaleLayers(
  x: Record<string, unknown>,
  etaY: Record<string, unknown>,
  color: Record<string, unknown>,
) {
  const only = (k: string) => [{ filter: `datum.kind === '${k}'` }];
  return [
    {
      transform: only("gridline"),
      mark: { type: "rule", color: "#d9d9d9", strokeWidth: 1 },
      encoding: { y: etaY },
    },
    {
      transform: [...only("fit"), { filter: "isValid(datum.lo)" }],
      mark: { type: "area", fillOpacity: 0.16 },
      encoding: { x, y: { ...etaY, field: "lo" }, y2: { field: "hi" }, color },
    },
    {
      transform: only("fit"),
      mark: { type: "line", strokeWidth: 2 },
      encoding: { x, y: etaY, color },
    },
    {
      transform: only("flat"),
      mark: { type: "line", strokeDash: [2, 3], strokeWidth: 1.5 },
      encoding: { x, y: etaY, color },
    },
    {
      transform: only("point"),
      mark: { type: "rule", strokeWidth: 1.5 },
      encoding: { x, y: { ...etaY, field: "lo" }, y2: { field: "hi" }, color },
    },
    {
      transform: only("grid"),
      mark: { type: "point", shape: "square", size: 30, filled: false, strokeWidth: 1 },
      encoding: { x, y: etaY, color },
    },
    {
      transform: [...only("point"), { filter: "datum.bracketed === 'yes'" }],
      mark: { type: "point", shape: "circle", size: 60, filled: true },
      encoding: { x, y: etaY, color },
    },
    {
      transform: [...only("point"), { filter: "datum.bracketed !== 'yes'" }],
      mark: { type: "point", shape: "circle", size: 70, filled: false, strokeWidth: 2 },
      encoding: { x, y: etaY, color },
    },
  ];
}

/** The key of a trial's panel: its family and scale label. */
function panelKey(p: TrainingPoint): string {
  return JSON.stringify([p.family, p.label]);
}

/**
 * Top of each panel's loss range: the last loss of each trial (val when
 * evaluated, else train) sets the zoom, up to half as far again above the
 * 60th percentile of those final losses as it lies above the panel's lowest loss.
 */
function panelCeilings(points: TrainingPoint[]): Map<string, number> {
  const panels = new Map<string, TrainingPoint[]>();
  for (const p of points) panels.set(panelKey(p), [...(panels.get(panelKey(p)) ?? []), p]);
  const ceiling = new Map<string, number>();
  for (const [k, ps] of panels) {
    const last = new Map<string, TrainingPoint>();
    for (const p of ps) {
      if (!Number.isFinite(p.loss) || p.diverged) continue;
      const q = last.get(p.trial_id);
      if (!q || p.step > q.step || (p.step === q.step && p.split === "val")) last.set(p.trial_id, p);
    }
    const finals = [...last.values()].map((p) => p.loss).sort((a, b) => a - b);
    const all = ps.map((p) => p.loss).filter(Number.isFinite);
    const lo = all.length ? Math.min(...all) : 0;
    const q = finals.length
      ? finals[Math.floor(0.6 * (finals.length - 1))]
      : (all.length ? Math.max(...all) : 1);
    ceiling.set(k, Math.max(q + 0.5 * (q - lo), lo + 0.05));
  }
  return ceiling;
}

/**
 * The figure rows from the first step shown on: the x-range starts a logged
 * step before the first loss inside any panel's range (earlier steps would
 * only run along the top edge); losses above a panel's range are drawn on its
 * top edge, and a val curve evaluated fewer than 3 times is dots, not a line
 * (a straight line would read as a loss that fell linearly).
 */
function trainingRows(points: TrainingPoint[], steps: number[]) {
  const ceiling = panelCeilings(points);
  const valCount = new Map<string, number>();
  for (const p of points) {
    if (p.split === "val") valCount.set(p.trial_id, (valCount.get(p.trial_id) ?? 0) + 1);
  }
  const firstIn = Math.min(
    ...points.filter((p) => Number.isFinite(p.loss) && p.loss < ceiling.get(panelKey(p))!).map((p) => p.step),
  );
  const x0 = Number.isFinite(firstIn) ? (steps.filter((v) => v < firstIn).pop() ?? firstIn) : (steps[0] ?? 0);
  const rows = points.filter((p) => p.step >= x0).map((p) => {
    const hi = ceiling.get(panelKey(p))!;
    return {
      ...p,
      lr: lrLabel(p.log2_lr),
      loss: Number.isFinite(p.loss) ? Math.min(p.loss, hi) : hi,
      val_line: (valCount.get(p.trial_id) ?? 0) >= 3,
    };
  });
  return { rows, x0 };
}

/** The colour label of a learning rate: "lr=2^-5". */
function lrLabel(x: number): string {
  return `lr=2^${+x.toFixed(2)}`;
}

/**
 * Train loss (thin line) and val loss (points, joined when a trial has 3 or more) against step, one
 * panel per group (rows: family, columns: scale, headed `width=16`), one distinct colour per LR (legend
 * `lr=2^-5.5`). Each panel's y-range is zoomed around its trials' final losses (from the lowest loss
 * to half as far again above the 60th percentile of the final losses), so the few-hundredths-of-a-nat
 * differences between good LRs are visible; what lies above (the early steps, bad LRs, a diverging
 * run) is drawn on the panel's top edge.
 *
 * @example
 * ```ts
 * const spec = trainingCurvesSpec(points, { scaleTitle: "width" });
 * ```
 */
export function trainingCurvesSpec(
  points: TrainingPoint[],
  opts: { scaleTitle?: string; lossTitle?: string } = {},
): VegaLiteSpec {
  const labels: string[] = [];
  for (const p of points) if (!labels.includes(p.label)) labels.push(p.label);
  const steps = [...new Set(points.map((p) => p.step))].sort((a, b) => a - b);
  const { rows, x0 } = trainingRows(points, steps);
  const lrs = [...new Set(points.map((p) => p.log2_lr))].sort((a, b) => a - b);
  const enc = {
    x: {
      field: "step",
      type: "quantitative",
      title: "step",
      scale: { domain: [x0, steps[steps.length - 1] ?? 1], nice: false, zero: false },
    },
    y: {
      field: "loss",
      type: "quantitative",
      title: opts.lossTitle ?? "loss",
      scale: { zero: false, nice: false },
    },
    color: {
      field: "lr",
      type: "nominal",
      title: "learning rate",
      sort: lrs.map(lrLabel),
      scale: { domain: lrs.map(lrLabel), scheme: lrs.length <= 10 ? "tableau10" : "category20" },
    },
    detail: { field: "trial_id", type: "nominal" },
  };
  const title = opts.scaleTitle ?? "scale";
  return {
    data: { values: rows },
    config: VEGA_THEME,
    title: {
      text: "Training curves",
      subtitle: [
        `rows: family; columns: ${title}; thin: train loss; dots: val loss (joined from 3 evals)`,
        "each panel's y-range is zoomed around its final losses; what lies above is drawn on the top edge" +
        (x0 > (steps[0] ?? 0) ? `; from step ${x0} on` : ""),
      ],
    },
    facet: {
      row: { field: "family", type: "nominal", title: null },
      column: {
        field: "label",
        type: "ordinal",
        title: null,
        sort: labels,
        header: {
          labelExpr: labels.every((l) => !l.includes("=")) ? `'${title}=' + datum.value` : "datum.value",
        },
      },
    },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 200,
      height: 140,
      layer: [
        {
          transform: [{ filter: "datum.split === 'train'" }],
          mark: { type: "line", strokeWidth: 0.8, strokeOpacity: 0.6 },
          encoding: enc,
        },
        {
          transform: [{ filter: "datum.split === 'val' && datum.val_line" }],
          mark: { type: "line", strokeWidth: 1.6 },
          encoding: enc,
        },
        {
          transform: [{ filter: "datum.split === 'val'" }],
          mark: { type: "point", size: 18, filled: true },
          encoding: enc,
        },
      ],
    },
  };
}
