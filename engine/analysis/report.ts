/**
 * The sweep report: one self-contained `report.html` (inline CSS, figures as
 * base64 SVG images, no scripts, no external fonts) with the verdicts, the
 * figures, the optima and the resolved pipeline. Opens offline.
 */
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { type Analysis, fmtInterval, fmtLR, fmtNum, verdictLines } from "./analyze.ts";
import { shortName } from "./optimum.ts";

/** Options of `reportHTML`. */
export interface ReportOptions {
  /** Page title. Default "LR transfer report: <dir>". */
  title?: string;
  /** The resolved pipeline (YAML text), shown at the end. */
  pipelineYaml?: string;
  /** More sections (e.g. the LR search's compute), shown before the pipeline. */
  sections?: ReportSection[];
}

/** A section of plain text and an optional table. */
export interface ReportSection {
  title: string;
  paragraphs?: string[];
  table?: { header: string[]; rows: string[][] };
}

/** Escapes text for HTML. */
export function escapeHTML(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI","DejaVu Sans",Arial,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#555;font-size:.92rem}
ul.verdicts{list-style:none;padding:0}
.verdict{padding:.45rem .7rem;margin:.3rem 0;border-radius:4px;border-left:5px solid #999;background:#f6f6f6}
.verdict.transfers{border-color:#2a9d4b;background:#eef8f0}.verdict.drifts{border-color:#d1495b;background:#fbeff0}
figure{margin:1rem 0;overflow-x:auto}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f2f2f2}
td.key,th.key{text-align:left}tr.edge td{background:#fff6e0}
pre{background:#f6f6f6;padding:.8rem;overflow-x:auto;font-size:.85rem}
.note{color:#8a5a00}
`;

/** Pixel size of an SVG from its width/height attributes. */
function svgSize(svg: string): { w: number; h: number } {
  const w = Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1] ?? 600);
  const h = Number(/<svg[^>]*\sheight="([\d.]+)"/.exec(svg)?.[1] ?? 400);
  return { w, h };
}

const num = fmtNum;

/**
 * Builds the report's HTML from an analysis.
 *
 * @example
 * ```ts
 * const html = reportHTML(await analyzeSweep("runs/width-transfer"));
 * ```
 */
export function reportHTML(a: Analysis, opts: ReportOptions = {}): string {
  const { optima, fits } = a;
  const title = opts.title ?? `LR transfer report: ${a.dir}`;
  const keyCols = [...optima.by, ...optima.scale.filter((s) => !optima.by.includes(s))];
  const verdicts = fits.flatMap((f, i) =>
    f.coefficients.length
      ? f.coefficients.map((c) => ({ cls: c.transfers ? "transfers" : "drifts", i }))
      : [{ cls: "nofit", i }]
  );
  const lines = verdictLines(fits);
  const out: string[] = [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHTML(title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${escapeHTML(title)}</h1>`,
    `<p class="meta">${optima.n_trials} trials: ${a.counts.ok} ok, ${a.counts.diverged} diverged, ${a.counts.failed} failed.
     Families by <code>${escapeHTML(optima.by.join(", ") || "(none)")}</code>; scale axes
     <code>${escapeHTML(optima.scale.join(", ") || "(none)")}</code>; loss <code>${
      escapeHTML(optima.loss)
    }</code>
     averaged over <code>${escapeHTML(optima.seed ?? "one seed")}</code>. Verdict: transfers when the
     ${
      Math.round((fits[0]?.level ?? 0.95) * 100)
    }% CI of the slope lies within &plusmn;${a.json.tolerance}.</p>`,
    "<h2>Verdicts</h2>",
    '<ul class="verdicts">',
    ...lines.map((l, j) => `<li class="verdict ${verdicts[j]?.cls ?? ""}">${escapeHTML(l)}</li>`),
    "</ul>",
  ];
  for (const n of a.notes) out.push(`<p class="note">${escapeHTML(n)}</p>`);

  if (a.figures.length) out.push("<h2>Figures</h2>");
  for (const f of a.figures) {
    const { w, h } = svgSize(f.svg);
    const b64 = Buffer.from(f.svg, "utf-8").toString("base64");
    out.push(
      `<figure id="fig-${escapeHTML(f.name)}"><img alt="${
        escapeHTML(f.title)
      }" width="${w}" height="${h}" src="data:image/svg+xml;base64,${b64}">`,
      `<figcaption>${escapeHTML(f.title)}${
        f.png ? ` (PNG: <code>${escapeHTML(f.png)}</code>)` : ""
      }</figcaption></figure>`,
    );
  }

  out.push(
    "<h2>Optimal learning rate per group</h2>",
    "<p>eta*: vertex of a parabola in log2 LR over the arg-min of the seed-mean loss and its neighbours. " +
      "Cost of transfer: loss at the base scale's best grid LR minus the group's best loss. " +
      "Highlighted rows: optimum at the edge of the LR grid (not bracketed).</p>",
    '<table class="optima"><thead><tr>',
    ...keyCols.map((k) => `<th class="key">${escapeHTML(k)}</th>`),
    ...["eta*", "eta* (grid)", "loss*", "bracketed", "trials", "diverged", "failed", "cost of transfer"]
      .map((k) => `<th>${k}</th>`),
    "</tr></thead><tbody>",
  );
  for (const g of optima.groups) {
    out.push(
      `<tr${g.bracketed ? "" : ' class="edge"'}>`,
      ...keyCols.map((k) => `<td class="key">${escapeHTML(String(g.keys[k]))}</td>`),
      `<td>${fmtLR(g.eta_star)}</td><td>${fmtLR(g.eta_star_grid)}</td><td>${num(g.loss_star)}</td>`,
      `<td>${
        g.bracketed ? "yes" : "no"
      }</td><td>${g.n_trials}</td><td>${g.n_diverged}</td><td>${g.n_failed}</td>`,
      `<td>${num(g.transfer_cost)}</td></tr>`,
    );
  }
  out.push("</tbody></table>");

  const fitted = fits.filter((f) => f.coefficients.length);
  if (fitted.length) {
    out.push(
      "<h2>Fitted laws</h2>",
      '<table class="fits"><thead><tr><th class="key">family</th><th class="key">scale</th><th>slope b</th>' +
        "<th>CI</th><th>R&sup2;</th><th>groups</th><th>resamples</th></tr></thead><tbody>",
    );
    for (const f of fitted) {
      for (const c of f.coefficients) {
        const ci = c.slope_ci ? `[${num(c.slope_ci[0], 3)}, ${num(c.slope_ci[1], 3)}]` : "n/a";
        out.push(
          `<tr><td class="key">${escapeHTML(f.family)}</td><td class="key">${
            escapeHTML(shortName(c.scale))
          }</td>` +
            `<td>${num(c.slope, 3)}</td><td>${ci}</td><td>${
              num(f.r2, 3)
            }</td><td>${f.n_groups}</td><td>${f.n_resamples}</td></tr>`,
        );
      }
    }
    out.push("</tbody></table>");
  }

  if (a.predictions.length) {
    out.push(
      "<h2>Predictions</h2>",
      '<table class="predictions"><thead><tr><th class="key">family</th><th class="key">scale</th><th>eta*</th><th>interval</th></tr></thead><tbody>',
    );
    for (const p of a.predictions) {
      const sc = Object.entries(p.scale).map(([k, v]) => `${shortName(k)}=${v}`).join(", ");
      out.push(
        `<tr><td class="key">${escapeHTML(p.family)}</td><td class="key">${escapeHTML(sc)}</td>` +
          `<td>${fmtLR(p.eta_star)}</td><td>${fmtInterval(p)}</td></tr>`,
      );
    }
    out.push("</tbody></table>");
  }

  for (const sec of opts.sections ?? []) {
    out.push(
      `<h2>${escapeHTML(sec.title)}</h2>`,
      ...(sec.paragraphs ?? []).map((p) => `<p>${escapeHTML(p)}</p>`),
    );
    if (sec.table) {
      const cells = (r: string[], tag: string) => r.map((c) => `<${tag}>${escapeHTML(c)}</${tag}>`).join("");
      out.push(
        `<table><thead><tr>${cells(sec.table.header, "th")}</tr></thead><tbody>`,
        ...sec.table.rows.map((r) => `<tr>${cells(r, "td")}</tr>`),
        "</tbody></table>",
      );
    }
  }
  if (opts.pipelineYaml !== undefined) {
    out.push("<h2>Pipeline</h2>", `<pre class="pipeline">${escapeHTML(opts.pipelineYaml)}</pre>`);
  }
  out.push(
    `<p class="meta">Files: ${
      [...a.files.filter((f) => f !== "report.html"), "report.html"]
        .map((f) => `<code>${escapeHTML(f)}</code>`).join(", ")
    }</p>`,
    "</body></html>",
  );
  return out.join("\n");
}

/**
 * Writes `<dir>/report.html` for an analysis, with the sweep's
 * `pipeline.yaml` when present. Returns the report's path.
 *
 * @example
 * ```ts
 * const path = await writeReport(await analyzeSweep("runs/width-transfer"));
 * ```
 */
export async function writeReport(a: Analysis, opts: ReportOptions = {}): Promise<string> {
  let pipelineYaml = opts.pipelineYaml;
  if (pipelineYaml === undefined) {
    try {
      pipelineYaml = await Deno.readTextFile(join(a.dir, "pipeline.yaml"));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const path = join(a.dir, "report.html");
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, reportHTML(a, { ...opts, pipelineYaml }));
  await Deno.rename(tmp, path);
  if (!a.files.includes("report.html")) a.files.push("report.html");
  return path;
}
