/**
 * The one Vega-Lite theme of every dmodel figure (sweep figures, study
 * charts, coordinate checks): DejaVu Sans (the font resvg is given for PNGs,
 * ./render.ts), white background, light grid, titles anchored left.
 */

/** Vega-Lite `config` shared by all figures. */
export const VEGA_THEME = {
  font: "DejaVu Sans, Verdana, Arial, sans-serif",
  background: "white",
  view: { stroke: "#ccc" },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#e6e6e6" },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400 }, // family names (key=value) in full
  header: { labelFontSize: 13, titleFontSize: 13 },
  title: { fontSize: 14, subtitleFontSize: 11, anchor: "start" },
} as const;

/** The sequential colour scheme for ordered values (scales, learning rates). */
export const SEQUENTIAL_SCHEME = { name: "viridis", extent: [0, 0.85] } as const;
