/**
 * Figures of a sweep as Vega-Lite specs, rendered to SVG with vega and to
 * PNG with resvg-wasm (text drawn with a TTF font read from disk: resvg-wasm
 * has no system fonts).
 *
 * - loss vs LR (log2 axis), one line per scale, optimum marked, one panel per family;
 * - eta* vs scale on log-log axes with the fitted line and its bootstrap band;
 * - training curves (val loss vs step) per group, coloured by LR.
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { DmodelError } from "../core/errors.ts";
import { type Optima, shortName } from "./optimum.ts";
import { predictLR, type ScalingFit } from "./fit.ts";

/** A Vega-Lite specification (plain JSON). */
export type VegaLiteSpec = Record<string, unknown>;

/** One point of a training curve, for `trainingCurvesSpec`. */
export interface TrainingPoint {
  family: string;
  label: string;
  trial_id: string;
  log2_lr: number;
  step: number;
  val_loss: number;
}

const FONT = "DejaVu Sans, Verdana, Arial, sans-serif";
const CONFIG = {
  font: FONT,
  background: "white",
  view: { stroke: "#ccc" },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#e6e6e6" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  title: { fontSize: 14, subtitleFontSize: 11, anchor: "start" },
};
const SEQUENTIAL = { name: "viridis", extent: [0, 0.85] };

/** Axis title of a scale axis, "width" for `model.width`. */
function axisName(scale: string[]): string {
  return scale.length === 1 ? shortName(scale[0]) : scale.length ? "scale" : "group";
}

/** Upper end of the loss axis: cut the far wings of the curves so the minima stay readable. */
function lossDomain(values: number[]): [number, number] {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return [0, 1];
  const lo = v[0], med = v[Math.floor(v.length / 2)], max = v[v.length - 1];
  let hi = Math.min(max, lo + 3 * (med - lo));
  if (!(hi > lo)) hi = lo + Math.max(1e-3, Math.abs(lo) * 0.01);
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

/**
 * Loss (mean over seeds) against log2 LR, one line per scale, the refined
 * optimum marked by a diamond (faint when not bracketed), diverged LRs by a
 * cross at the top; one panel per family.
 *
 * @example
 * ```ts
 * const svg = await renderSVG(lossVsLRSpec(optimalLR(trials)));
 * ```
 */
export function lossVsLRSpec(optima: Optima): VegaLiteSpec {
  const rows: Record<string, unknown>[] = [];
  const labels: string[] = [];
  for (const g of optima.groups) if (!labels.includes(g.label)) labels.push(g.label);
  const [ylo, yhi] = lossDomain(
    optima.groups.flatMap((g) => g.curve.filter((p) => p.candidate).map((p) => p.loss)),
  );
  for (const g of optima.groups) {
    for (const p of g.curve) {
      if (p.candidate) {
        rows.push({ kind: "curve", family: g.family, label: g.label, x: p.log2_lr, loss: p.loss });
      } else if (p.n_diverged > 0) {
        rows.push({ kind: "diverged", family: g.family, label: g.label, x: p.log2_lr, loss: yhi });
      }
    }
    if (Number.isFinite(g.eta_star)) {
      rows.push({
        kind: "optimum",
        family: g.family,
        label: g.label,
        x: Math.log2(g.eta_star),
        loss: Math.min(yhi, g.loss_star_fit),
        bracketed: g.bracketed ? "yes" : "no (edge of grid)",
      });
    }
  }
  const color = {
    field: "label",
    type: "ordinal",
    title: axisName(optima.scale),
    scale: { domain: labels, scheme: SEQUENTIAL },
  };
  const x = {
    field: "x",
    type: "quantitative",
    title: "learning rate (log2)",
    axis: { tickMinStep: 1, labelExpr: "'2^' + datum.value" },
    scale: { zero: false, nice: false },
  };
  const y = {
    field: "loss",
    type: "quantitative",
    title: `${optima.loss.replaceAll("_", " ")} (mean over seeds)`,
    scale: { zero: false, domain: [ylo, yhi] },
  };
  const only = (k: string) => [{ filter: `datum.kind === '${k}'` }];
  return {
    data: { values: rows },
    config: CONFIG,
    title: {
      text: "Loss vs learning rate",
      subtitle: "diamond: optimum (faint: not bracketed); x: diverged",
    },
    facet: { column: { field: "family", type: "nominal", title: null } },
    resolve: { scale: { x: "shared", y: "shared" } },
    spec: {
      width: 300,
      height: 220,
      layer: [
        {
          transform: only("curve"),
          mark: { type: "line", point: { size: 25 }, clip: true },
          encoding: { x, y, color },
        },
        {
          transform: only("diverged"),
          mark: { type: "point", shape: "M-1,-1L1,1M-1,1L1,-1", size: 50, strokeWidth: 2, filled: false },
          encoding: { x, y, color },
        },
        {
          transform: only("optimum"),
          mark: { type: "point", shape: "diamond", size: 140, filled: true, stroke: "black", strokeWidth: 1 },
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
      ],
    },
  };
}

/**
 * eta* against one scale axis on log-log (log2) axes: the optima per family
 * (hollow when not bracketed), the fitted law (other axes at their base
 * value) and its bootstrap band; the verdicts as subtitle.
 *
 * @example
 * ```ts
 * const spec = etaVsScaleSpec(optima, fitScaling(optima), "model.width");
 * ```
 */
export function etaVsScaleSpec(optima: Optima, fits: ScalingFit[], axis: string): VegaLiteSpec {
  if (!optima.scale.includes(axis)) {
    throw new DmodelError(`etaVsScaleSpec: ${axis} is not a scale axis (${optima.scale.join(", ")})`);
  }
  const rows: Record<string, unknown>[] = [];
  for (const g of optima.groups) {
    if (!Number.isFinite(g.eta_star)) continue;
    rows.push({
      kind: "point",
      family: g.family,
      x: Math.log2(g.scale[axis]),
      y: Math.log2(g.eta_star),
      bracketed: g.bracketed ? "yes" : "no",
    });
  }
  const subtitle: string[] = [];
  for (const f of fits) {
    const c = f.coefficients.find((c) => c.scale === axis);
    if (!c) {
      if (f.note) subtitle.push(`${f.family}: ${f.note}`);
      continue;
    }
    subtitle.push(`${f.family}: ${c.verdict}`);
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
  const values = [...new Set(optima.groups.map((g) => Math.log2(g.scale[axis])))];
  const name = shortName(axis);
  const x = {
    field: "x",
    type: "quantitative",
    title: `${name} (log2 axis)`,
    scale: { zero: false, nice: false, padding: 12 },
    axis: { values, labelExpr: "format(pow(2, datum.value), ',.4~r')" },
  };
  const color = {
    field: "family",
    type: "nominal",
    title: "family",
    legend: { symbolOpacity: 1, symbolType: "circle" },
  };
  const etaY = {
    field: "y",
    type: "quantitative",
    title: "optimal LR η* (log2 axis)",
    scale: { zero: false },
    axis: { tickMinStep: 0.5, labelExpr: "'2^' + datum.value" },
  };
  if (optima.groups.some((g) => !g.bracketed && Number.isFinite(g.eta_star))) {
    subtitle.push("hollow squares: optimum at the edge of the LR grid (not bracketed, left out of the fit)");
  }
  const only = (k: string) => [{ filter: `datum.kind === '${k}'` }];
  return {
    data: { values: rows },
    config: CONFIG,
    width: 440,
    height: 300,
    title: { text: `Optimal learning rate vs ${name}`, subtitle },
    layer: [
      {
        transform: [...only("fit"), { filter: "isValid(datum.lo)" }],
        mark: { type: "area", opacity: 0.18 },
        encoding: { x, y: { ...etaY, field: "lo" }, y2: { field: "hi" }, color },
      },
      {
        transform: only("fit"),
        mark: { type: "line", strokeWidth: 2 },
        encoding: { x, y: etaY, color },
      },
      {
        transform: [...only("point"), { filter: "datum.bracketed === 'yes'" }],
        mark: { type: "point", shape: "circle", size: 70, filled: true, opacity: 0.9 },
        encoding: { x, y: etaY, color },
      },
      {
        transform: [...only("point"), { filter: "datum.bracketed !== 'yes'" }],
        mark: { type: "point", shape: "square", size: 70, filled: false, strokeWidth: 2 },
        encoding: { x, y: etaY, color },
      },
    ],
  };
}

/**
 * Validation loss against step, one panel per group (family x scale), one
 * line per trial coloured by log2 LR.
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
  const v = points.map((p) => p.val_loss).filter(Number.isFinite).sort((a, b) => a - b);
  const domain = v.length ? [v[0], v[v.length - 1]] : [0, 1];
  return {
    data: { values: points },
    config: CONFIG,
    title: { text: "Training curves", subtitle: `rows: family; columns: ${opts.scaleTitle ?? "scale"}` },
    facet: {
      row: { field: "family", type: "nominal", title: null },
      column: { field: "label", type: "ordinal", title: opts.scaleTitle ?? "scale", sort: labels },
    },
    spec: {
      width: 170,
      height: 120,
      mark: { type: "line", strokeWidth: 1.2, clip: true },
      encoding: {
        x: { field: "step", type: "quantitative", title: "step" },
        y: {
          field: "val_loss",
          type: "quantitative",
          title: opts.lossTitle ?? "val loss",
          scale: { zero: false, domain },
        },
        color: {
          field: "log2_lr",
          type: "quantitative",
          title: "log2 LR",
          scale: { scheme: SEQUENTIAL },
        },
        detail: { field: "trial_id", type: "nominal" },
      },
    },
  };
}

/**
 * Renders a Vega-Lite spec to an SVG string (headless, no canvas).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("loss_vs_lr.svg", await renderSVG(lossVsLRSpec(optima)));
 * ```
 */
export async function renderSVG(spec: VegaLiteSpec): Promise<string> {
  // deno-lint-ignore no-explicit-any
  const compiled = vl.compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" }).logLevel(vega.Error);
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Where a TTF font for PNG text is looked for, after `$DMODEL_FONT`. */
export const FONT_FILES = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
];

let wasmReady: Promise<void> | null = null;
let fontCache: Uint8Array[] | null = null;

/** The TTF fonts for PNG text: `$DMODEL_FONT` if set, else DejaVu Sans (Debian fonts-dejavu-core). */
export async function loadFonts(): Promise<Uint8Array[]> {
  if (fontCache) return fontCache;
  const env = Deno.env.get("DMODEL_FONT");
  const files = env ? [env] : FONT_FILES;
  const fonts: Uint8Array[] = [];
  for (const f of files) {
    try {
      fonts.push(await Deno.readFile(f));
    } catch {
      if (env) throw new DmodelError(`DMODEL_FONT=${env}: cannot read the font file`);
    }
  }
  if (!fonts.length) {
    throw new DmodelError(
      `no font for PNG text: ${
        FONT_FILES[0]
      } is missing; run 'apt-get install -y fonts-dejavu-core' or set DMODEL_FONT=/path/to/font.ttf`,
    );
  }
  return (fontCache = fonts);
}

/**
 * Rasterizes an SVG to PNG bytes with resvg-wasm, text in DejaVu Sans.
 * `scale` multiplies the SVG's pixel size (default 2, for sharp figures).
 *
 * @example
 * ```ts
 * const png = await renderPNG(await renderSVG(spec));
 * await Deno.writeFile("figure.png", png);
 * ```
 */
export async function renderPNG(svg: string, opts: { scale?: number } = {}): Promise<Uint8Array> {
  const fonts = await loadFonts();
  wasmReady ??= (async () => {
    const url = new URL(import.meta.resolve("@resvg/resvg-wasm/index_bg.wasm"));
    await initWasm(await Deno.readFile(url));
  })();
  await wasmReady;
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: opts.scale ?? 2 },
    font: {
      fontBuffers: fonts,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
  const img = r.render();
  try {
    return img.asPng();
  } finally {
    img.free();
    r.free();
  }
}
