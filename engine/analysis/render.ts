/**
 * Rendering of Vega-Lite specs: to SVG with vega (headless), to PNG with
 * resvg-wasm (text drawn with a TTF font read from disk: resvg-wasm has no
 * system fonts), cropped to what is drawn; `writeFigure` writes both.
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { DmodelError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";

/** A Vega-Lite specification (plain JSON). */
export type VegaLiteSpec = Record<string, unknown>;

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

/** A Resvg renderer of `svg` at `scale`, text in the fonts of `loadFonts`. */
async function resvg(svg: string, scale: number) {
  const fonts = await loadFonts();
  wasmReady ??= (async () => {
    const url = new URL(import.meta.resolve("@resvg/resvg-wasm/index_bg.wasm"));
    await initWasm(await Deno.readFile(url));
  })();
  await wasmReady;
  return new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    font: {
      fontBuffers: fonts,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
}

/**
 * The SVG cut to what is drawn on it (plus `margin` px): Vega sizes a figure from estimated text widths,
 * which leaves blank space (a third of the width beside a long subtitle). The drawn box is found by
 * rasterizing once and scanning for non-white pixels; the SVG's width, height and viewBox are set to it.
 *
 * @example
 * ```ts
 * const svg = await cropToContent(await renderSVG(spec));
 * ```
 */
export async function cropToContent(svg: string, margin = 6): Promise<string> {
  const head = /<svg[^>]*>/.exec(svg)?.[0];
  const vb = head && /viewBox="([-\d.]+) ([-\d.]+) ([\d.]+) ([\d.]+)"/.exec(head);
  if (!head || !vb) return svg;
  const [x0, y0] = [Number(vb[1]), Number(vb[2])];
  const r = await resvg(svg, 1);
  const img = r.render();
  try {
    const { width: w, height: h, pixels: px } = img;
    let top = h, bottom = -1, left = w, right = -1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = 4 * (y * w + x);
        if (px[i + 3] > 0 && (px[i] < 245 || px[i + 1] < 245 || px[i + 2] < 245)) {
          if (y < top) top = y;
          bottom = y;
          if (x < left) left = x;
          if (x > right) right = x;
        }
      }
    }
    if (bottom < 0) return svg;
    const bx = Math.max(0, left - margin), by = Math.max(0, top - margin);
    const bw = Math.min(w, right + 1 + margin) - bx, bh = Math.min(h, bottom + 1 + margin) - by;
    const sx = Number(vb[3]) / w, sy = Number(vb[4]) / h;
    const box = [x0 + bx * sx, y0 + by * sy, bw * sx, bh * sy].map((v) => +v.toFixed(2));
    const cut = head.replace(/\swidth="[\d.]+"/, ` width="${box[2]}"`).replace(
      /\sheight="[\d.]+"/,
      ` height="${box[3]}"`,
    ).replace(/viewBox="[^"]*"/, `viewBox="${box.join(" ")}"`);
    return svg.replace(head, cut);
  } finally {
    img.free();
    r.free();
  }
}

/**
 * Rasterizes an SVG to PNG bytes with resvg-wasm, text in DejaVu Sans.
 * `scale` multiplies the SVG's pixel size (default 2, for sharp figures);
 * the picture is cut to its content first (`cropToContent`; `crop: false` keeps the whole canvas).
 *
 * @example
 * ```ts
 * const png = await renderPNG(await renderSVG(spec));
 * await Deno.writeFile("figure.png", png);
 * ```
 */
export async function renderPNG(
  svg: string,
  opts: { scale?: number; crop?: boolean } = {},
): Promise<Uint8Array> {
  if (opts.crop ?? true) svg = await cropToContent(svg);
  const r = await resvg(svg, opts.scale ?? 2);
  const img = r.render();
  try {
    return img.asPng();
  } finally {
    img.free();
    r.free();
  }
}

/**
 * Writes `<base>.svg` and `<base>.png` for a Vega-Lite spec; returns the PNG path.
 *
 * @example
 * ```ts
 * await writeFigure("runs/collapse/collapse", lineChartSpec(chart));
 * ```
 */
export async function writeFigure(base: string, spec: VegaLiteSpec): Promise<string> {
  const svg = await renderSVG(spec);
  await writeFileAtomic(`${base}.svg`, svg);
  await writeFileAtomic(`${base}.png`, await renderPNG(svg));
  return `${base}.png`;
}
