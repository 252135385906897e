/**
 * The one Vega-Lite theme of dmodel's figures (analysis plots, study charts,
 * the coordinate check): DejaVu Sans (installed with the fonts the PNG
 * renderer finds), white background, light grid.
 */
export const VEGA_THEME = {
  font: "DejaVu Sans, Verdana, Arial, sans-serif",
  background: "white",
  view: { stroke: "#ccc" },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#e6e6e6" },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  header: { labelFontSize: 13, titleFontSize: 13 },
  title: { fontSize: 14, subtitleFontSize: 11, anchor: "start" },
};
