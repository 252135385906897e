/**
 * A generic line chart as a Vega-Lite spec (one line per series, optional
 * facets); ./render.ts draws it. Used by the study stages (collapse,
 * skipless, alignment).
 */
import type { VegaLiteSpec } from "./render.ts";
import { VEGA_THEME } from "./theme.ts";

/** What to draw. Rows are plain records; fields name their columns. */
export interface LineChart {
  rows: Record<string, unknown>[];
  x: string;
  y: string;
  /** One line (and colour) per value of this field. */
  color: string;
  /** Facet columns / rows by these fields. */
  column?: string;
  row?: string;
  title: string;
  subtitle?: string;
  xTitle?: string;
  yTitle?: string;
  logX?: boolean;
  logY?: boolean;
  /** Fixed y range (values outside are clipped), e.g. to keep a loss spike from flattening the rest. */
  yDomain?: [number, number];
  /** Independent y scales across facets (default true when faceted). */
  independentY?: boolean;
  /** Draw points on the lines. */
  points?: boolean;
  width?: number;
  height?: number;
  /** Order of the colour legend. */
  colorOrder?: string[];
  /** Order of the facet columns / rows. */
  columnOrder?: string[];
  rowOrder?: string[];
  /** Legend label limit in pixels. */
  labelLimit?: number;
  /** Horizontal reference lines (dashed), e.g. a loss floor. */
  rules?: { y: number; label: string }[];
  /** A shaded band between two fields around each line (e.g. a 95% interval across seeds). */
  band?: { lo: string; hi: string };
}

/**
 * A line chart spec.
 *
 * @example
 * ```ts
 * const spec = lineChartSpec({ rows, x: "layer", y: "value", color: "config", column: "metric", title: "Collapse" });
 * ```
 */
export function lineChartSpec(c: LineChart): VegaLiteSpec {
  const rows = c.rows.filter((r) => Number.isFinite(r[c.x] as number) && Number.isFinite(r[c.y] as number));
  const inner = {
    width: c.width ?? 220,
    height: c.height ?? 160,
    mark: { type: "line", point: c.points ?? false, strokeWidth: 1.6, clip: true },
    encoding: {
      x: {
        field: c.x,
        type: "quantitative",
        title: c.xTitle ?? c.x,
        scale: c.logX ? { type: "log" } : { zero: false },
      },
      y: {
        field: c.y,
        type: "quantitative",
        title: c.yTitle ?? c.y,
        scale: {
          ...(c.logY ? { type: "log" } : { zero: false }),
          ...(c.yDomain ? { domain: c.yDomain } : {}),
        },
      },
      color: {
        field: c.color,
        type: "nominal",
        title: c.color,
        sort: c.colorOrder ?? null,
        legend: { labelLimit: c.labelLimit ?? 400 },
        // more series than the 10 colours of the default scheme: 20 distinct ones, so no two lines share one
        ...(new Set(rows.map((r) => r[c.color])).size > 10 ? { scale: { scheme: "tableau20" } } : {}),
      },
    },
  };
  const title = { text: c.title, subtitle: c.subtitle ?? "" };
  if (c.band && !c.rules?.length) {
    const { mark, encoding, ...size } = inner;
    const band = {
      mark: { type: "area", opacity: 0.18, clip: true },
      encoding: {
        x: encoding.x,
        y: { ...encoding.y, field: c.band.lo },
        y2: { field: c.band.hi },
        color: { ...encoding.color, legend: { ...encoding.color.legend, symbolOpacity: 1 } },
      },
    };
    // The line first, so the legend shows its colour at full strength.
    const layered = { ...size, layer: [{ mark, encoding }, band] };
    if (!c.column && !c.row) return { data: { values: rows }, config: VEGA_THEME, title, ...layered };
    return faceted(c, rows, title, layered);
  }
  if (c.rules?.length) {
    const { mark, encoding, ...size } = inner;
    const rules = {
      data: { values: c.rules },
      layer: [
        {
          mark: { type: "rule", strokeDash: [4, 4], color: "#777" },
          encoding: { y: { field: "y", type: "quantitative" } },
        },
        {
          mark: {
            type: "text",
            align: "right",
            baseline: "bottom",
            dx: -2,
            color: "#555",
            fontSize: 10,
            x: "width",
          },
          encoding: { y: { field: "y", type: "quantitative" }, text: { field: "label" } },
        },
      ],
    };
    const layered = { ...size, layer: [{ data: { values: rows }, mark, encoding }, rules] };
    return { config: VEGA_THEME, title, ...layered };
  }
  if (!c.column && !c.row) return { data: { values: rows }, config: VEGA_THEME, title, ...inner };
  return faceted(c, rows, title, inner);
}

function faceted(
  c: LineChart,
  rows: Record<string, unknown>[],
  title: { text: string; subtitle: string },
  inner: Record<string, unknown>,
): VegaLiteSpec {
  const facet: Record<string, unknown> = {};
  if (c.column) facet.column = { field: c.column, type: "nominal", title: null, sort: c.columnOrder ?? null };
  if (c.row) facet.row = { field: c.row, type: "nominal", title: null, sort: c.rowOrder ?? null };
  return {
    data: { values: rows },
    config: VEGA_THEME,
    title,
    facet,
    spec: inner,
    resolve: { scale: { y: (c.independentY ?? true) ? "independent" : "shared" } },
  };
}
