/**
 * The sweep report: one self-contained `report.html` (inline CSS, figures as
 * base64 SVG images, no scripts, no external fonts) with the verdicts and
 * their method, paired comparisons, the figures, the optima with intervals
 * and costs of transfer, predictions, provenance, and the pipeline as
 * written beside the resolved one. Opens offline.
 */
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { readTextIfExists, writeFileAtomic } from "../core/fs.ts";
import type { Analysis } from "./analyze.ts";
import {
  baseScaleText,
  fmtEta,
  fmtInterval,
  fmtLevel,
  fmtLR,
  fmtNum,
  fmtWithCI,
  naReason,
  OPTIMA_COLUMNS,
  verdictCalls,
  verdictLines,
} from "./format.ts";
import { methodText } from "./fit.ts";
import { type JointFit, jointMethodText } from "./joint.ts";
import { noiseText } from "./noise.ts";
import type { GroupOptimum } from "./optimum.ts";
import type { Provenance } from "./provenance.ts";
import { baseGroup } from "./transfer.ts";
import { shortKeys, shortName } from "./naming.ts";

/** Options of `reportHTML`. */
export interface ReportOptions {
  /** Page title. Default "LR transfer report: <dir>". */
  title?: string;
  /** The resolved pipeline (YAML text), shown at the end. */
  pipelineYaml?: string;
  /** The pipeline file as written (comments and anchors kept), shown beside the resolved one. */
  pipelineSource?: string;
  /** More sections (e.g. the LR search's compute), shown before the pipeline. */
  sections?: ReportSection[];
}

/** A section of plain text and an optional table. */
export interface ReportSection {
  /** Heading of the section. */
  title: string;
  /** Paragraphs of plain text (escaped for HTML). */
  paragraphs?: string[];
  /** A table: column headings and rows of cells (plain text). */
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
.verdict.inconclusive{border-color:#e0a030;background:#fdf6e7}
.pipelines{display:flex;gap:1rem;flex-wrap:wrap}.pipelines>div{flex:1 1 480px;min-width:0}
dl.prov{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;font-size:.9rem}dl.prov dt{color:#555}dl.prov dd{margin:0}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee;box-sizing:border-box}
sup.na{color:#8a5a00}ol.na{font-size:.88rem;color:#555}details.trials>summary{cursor:pointer;font-weight:600}
figcaption{color:#555;font-size:.9rem}
table{border-collapse:collapse;font-size:.88rem;margin:.5rem 0;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f2f2f2}
td.key,th.key{text-align:left}tr.edge td{background:#fff6e0}
pre{background:#f6f6f6;padding:.8rem;overflow-x:auto;font-size:.85rem}pre.pipeline-source{white-space:pre-wrap}
.note{color:#8a5a00}
`;

/** The plain answer (./answer.ts), two or three sentences per family, opening the report. */
function answerBlock(a: Analysis): string[] {
  if (!a.answers?.length) return [];
  const calls = new Map(a.fits.map((f) => [f.family, f.coefficients[0]?.call ?? "inconclusive"]));
  return [
    '<section class="answer"><h2>Answer</h2>',
    ...a.answers.map(([fam, ss]) =>
      `<p class="verdict ${calls.get(fam) ?? ""}"><b>${escapeHTML(fam)}.</b> ${escapeHTML(ss.join(" "))}</p>`
    ),
    "</section>",
  ];
}

/** Pixel size of an SVG from its width/height attributes. */
function svgSize(svg: string): { w: number; h: number } {
  const w = Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1] ?? 600);
  const h = Number(/<svg[^>]*\sheight="([\d.]+)"/.exec(svg)?.[1] ?? 400);
  return { w, h };
}

/**
 * Builds the report's HTML from an analysis.
 *
 * @example
 * ```ts
 * const html = reportHTML(await analyzeSweep("runs/width-transfer"));
 * ```
 */
export function reportHTML(a: Analysis, opts: ReportOptions = {}): string {
  const title = opts.title ?? `LR transfer report: ${a.dir}`;
  return [
    ...headerSection(a, title),
    ...answerBlock(a),
    ...verdictSection(a),
    ...figureSection(a),
    ...optimaSection(a),
    ...fitSection(a),
    ...predictionSection(a),
    ...trialSection(a),
    ...(opts.sections ?? []).flatMap(extraSection),
    ...provenanceSection(a.provenance),
    ...pipelineSection(opts),
    `<p class="meta">Files: ${
      [...a.files.filter((f) => f !== "report.html"), "report.html"]
        .map((f) => `<code>${escapeHTML(f)}</code>`).join(", ")
    }</p>`,
    "</body></html>",
  ].join("\n");
}

/** The page head, the title and what the sweep holds. */
function headerSection(a: Analysis, title: string): string[] {
  const { optima } = a;
  return [
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
    }</code>, seed offsets removed (<code>${escapeHTML(optima.seed ?? "one seed")}</code>).</p>`,
  ];
}

/** The verdicts with their tolerance, paired comparisons, the method, the noise and the notes. */
function verdictSection(a: Analysis): string[] {
  const { optima, fits } = a;
  const calls = verdictCalls(fits);
  const tol = a.json.tolerance;
  const out: string[] = [
    "<h2>Verdicts</h2>",
    `<p class="meta">Tolerance: |slope| &le; ${tol} (eta* moving by less than x2^${tol} per doubling counts as ` +
    `transfer). transfers: the whole ${fmtLevel(optima.level)} interval lies within &plusmn;${tol}; ` +
    `drifts: it lies entirely outside; inconclusive: otherwise.</p>`,
    '<ul class="verdicts">',
    ...verdictLines(fits).map((l, j) => `<li class="verdict ${calls[j] ?? ""}">${escapeHTML(l)}</li>`),
    "</ul>",
  ];
  if (a.comparisons.length) {
    out.push(
      "<h3>Paired comparisons</h3>",
      '<ul class="comparisons">',
      ...a.comparisons.map((c) => `<li>${escapeHTML(c.text)}</li>`),
      "</ul>",
    );
  }
  const joint = fits.filter((f): f is JointFit => "per_scale" in f);
  out.push(
    `<p class="method"><b>Method.</b> ${
      escapeHTML(joint.length ? jointMethodText(tol, optima.level) : methodText(tol, optima.level))
    }</p>`,
  );
  if (joint.length) {
    out.push(
      `<p class="meta">Trial noise model: ${
        escapeHTML(joint.map((f) => `${f.family}: ${noiseText(f.noise)}`).join("; "))
      }.</p>`,
    );
  }
  if (a.twoStage?.length) {
    out.push(
      `<p class="meta">Cross-check, two-stage estimate (per-scale optima, then a regression): ${
        escapeHTML(verdictLines(a.twoStage).join("; "))
      }.</p>`,
    );
  }
  const noise = Object.entries(optima.noise).map(([f, n]) =>
    `${f}: ${fmtNum(n.sd)} (seed-to-seed ${fmtNum(n.seed_sd)} on ${n.seed_dof} dof, fit residuals ${
      fmtNum(n.fit_sd)
    } on ${n.fit_dof} dof; seed offsets sd ${fmtNum(n.offset_sd)})`
  );
  out.push(
    `<p class="meta">Trial noise (sd, nats) estimated from the data: ${escapeHTML(noise.join("; "))}.</p>`,
  );
  for (const n of a.notes) out.push(`<p class="note">${escapeHTML(n)}</p>`);
  for (const p of a.predictions.filter((p) => p.warning)) {
    out.push(`<p class="note">${escapeHTML(`${p.family}: ${p.warning}`)}</p>`);
  }
  return out;
}

/** The figures as inline base64 SVG images. */
function figureSection(a: Analysis): string[] {
  if (!a.figures.length) return [];
  return [
    "<h2>Figures</h2>",
    ...a.figures.flatMap((f) => {
      const { w, h } = svgSize(f.svg);
      const b64 = Buffer.from(f.svg, "utf-8").toString("base64");
      return [
        `<figure id="fig-${escapeHTML(f.name)}"><img alt="${
          escapeHTML(f.title)
        }" width="${w}" height="${h}" src="data:image/svg+xml;base64,${b64}">`,
        `<figcaption>${escapeHTML(f.title)}${
          f.png ? ` (PNG: <code>${escapeHTML(f.png)}</code>)` : ""
        }</figcaption></figure>`,
      ];
    }),
  ];
}

/** The optimum of each group, with every n/a numbered and explained below the table. */
function optimaSection(a: Analysis): string[] {
  const { optima } = a;
  const keyCols = [...optima.by, ...optima.scale.filter((s) => !optima.by.includes(s))];
  const out: string[] = [
    "<h2>Optimal learning rate per group</h2>",
    `<p>eta* with its ${
      fmtLevel(a.optima.level)
    } interval (log2 bounds); u_stat and u_sys: the bootstrap and resolution parts of ` +
    "its standard uncertainty in log2 units. Cost of transfer: fitted loss at the base scale's eta* minus " +
    "the fitted loss at the group's eta*, with its interval; observed: seed-adjusted loss at the base scale's " +
    "grid LR minus the group's best. Highlighted rows: optimum at the edge of the LR grid (not bracketed). " +
    `${
      escapeHTML(baseScaleText(a.bases ?? []))
    } Each n/a is numbered; the notes below the table say why.</p>`,
    '<table class="optima"><thead><tr>',
    ...keyCols.map((k, i) =>
      `<th class="key" title="${escapeHTML(k)}">${escapeHTML(shortKeys(keyCols)[i])}</th>`
    ),
    ...OPTIMA_COLUMNS.map((k) => `<th>${k}</th>`),
    '<th class="key">flags</th>',
    "</tr></thead><tbody>",
  ];
  // Every n/a gets a numbered note saying why (the same reason shares one number).
  const reasons: string[] = [];
  const cell = (text: string, g: GroupOptimum, column: Parameters<typeof naReason>[2]) => {
    const why = text.includes("n/a")
      ? naReason(g, baseGroup(optima.groups.filter((h) => h.family === g.family)), column)
      : null;
    if (!why) return escapeHTML(text);
    const n = (reasons.includes(why) ? reasons.indexOf(why) : reasons.push(why) - 1) + 1;
    return `${escapeHTML(text)}<sup class="na">${n}</sup>`;
  };
  for (const g of optima.groups) {
    out.push(
      `<tr${g.bracketed ? "" : ' class="edge"'}>`,
      ...keyCols.map((k) => `<td class="key">${escapeHTML(String(g.keys[k]))}</td>`),
      `<td>${cell(fmtEta(g), g, "eta*")}</td><td>${fmtLR(g.eta_star_grid)}</td><td>${
        cell(fmtNum(g.u_stat, 3), g, "u_stat")
      }</td><td>${cell(fmtNum(g.u_sys, 3), g, "u_sys")}</td><td>${fmtNum(g.loss_star)}</td>`,
      `<td>${g.n_trials}</td><td>${g.n_diverged}</td><td>${g.n_failed}</td>`,
      `<td>${cell(fmtWithCI(g.transfer_cost_fit, g.transfer_cost_ci), g, "cost of transfer")}</td><td>${
        cell(fmtNum(g.transfer_cost), g, "cost (observed)")
      }</td>`,
      `<td class="key">${escapeHTML(g.flags.join("; ") || "-")}</td></tr>`,
    );
  }
  out.push("</tbody></table>");
  if (reasons.length) {
    out.push('<ol class="na">', ...reasons.map((r) => `<li>n/a: ${escapeHTML(r)}</li>`), "</ol>");
  }
  return out;
}

/** Each fitted law's slopes with their intervals, verdicts and goodness of fit. */
function fitSection(a: Analysis): string[] {
  const fitted = a.fits.filter((f) => f.coefficients.length);
  if (!fitted.length) return [];
  const rows = fitted.flatMap((f) =>
    f.coefficients.map((c) => {
      const ci = c.slope_ci ? `[${fmtNum(c.slope_ci[0], 3)}, ${fmtNum(c.slope_ci[1], 3)}]` : "n/a";
      return `<tr><td class="key">${escapeHTML(f.family)}</td><td class="key">${
        escapeHTML(shortName(c.scale))
      }</td>` +
        `<td>${fmtNum(c.slope, 3)}</td><td>${
          fmtNum(c.slope_se, 3)
        }</td><td>${ci}</td><td class="key">${c.call}</td>` +
        `<td>${fmtNum(f.r2, 3)}</td><td>${fmtNum(f.chi2, 2)} / ${f.dof}</td><td>${
          fmtNum(f.birge, 2)
        }</td><td>${f.n_groups}</td><td>${f.n_resamples}</td></tr>`;
    })
  );
  return [
    "<h2>Fitted laws</h2>",
    '<table class="fits"><thead><tr><th class="key">family</th><th class="key">scale</th><th>slope b</th>' +
    `<th>se</th><th>${
      fmtLevel(a.optima.level)
    } CI</th><th class="key">verdict</th><th>R&sup2;</th><th>&chi;&sup2; / dof</th>` +
    "<th>Birge ratio</th><th>groups</th><th>draws</th></tr></thead><tbody>",
    ...rows,
    "</tbody></table>",
  ];
}

/** The predicted eta* at new scales with their intervals and warnings. */
function predictionSection(a: Analysis): string[] {
  if (!a.predictions.length) return [];
  return [
    "<h2>Predictions</h2>",
    `<table class="predictions"><thead><tr><th class="key">family</th><th class="key">scale</th><th>eta*</th><th>${
      fmtLevel(a.optima.level)
    } interval</th><th class="key">warning</th></tr></thead><tbody>`,
    ...a.predictions.map((p) => {
      const sc = Object.entries(p.scale).map(([k, v]) => `${shortName(k)}=${v}`).join(", ");
      return `<tr><td class="key">${escapeHTML(p.family)}</td><td class="key">${escapeHTML(sc)}</td>` +
        `<td>${fmtLR(p.eta_star)}</td><td>${fmtInterval(p)}</td><td class="key">${
          escapeHTML(p.warning ?? "-")
        }</td></tr>`;
    }),
    "</tbody></table>",
  ];
}

/** Every trial's status, loss and folder, folded. */
function trialSection(a: Analysis): string[] {
  if (!a.trials?.length) return [];
  const { optima } = a;
  const st = (x: string) => a.trials!.filter((t) => t.status === x).length;
  return [
    '<h2 id="trials">Trials</h2>',
    '<details class="trials"><summary>' +
    escapeHTML(
      `${a.trials.length} trials (${st("ok")} ok, ${st("diverged")} diverged, ${st("failed")} failed): ` +
        `status, ${optima.loss.replaceAll("_", " ")} and folder of each`,
    ) + "</summary>",
    '<table class="trials"><thead><tr><th class="key">family</th><th class="key">' +
    escapeHTML(optima.scale.length === 1 ? shortName(optima.scale[0]) : "scale") +
    `</th><th>lr</th><th>seed</th><th class="key">status</th><th>${
      escapeHTML(optima.loss.replaceAll("_", " "))
    }</th><th class="key">folder</th></tr></thead><tbody>`,
    ...a.trials.map((t) =>
      `<tr${t.status === "ok" ? "" : ' class="edge"'}><td class="key">${escapeHTML(t.family)}</td>` +
      `<td class="key">${escapeHTML(t.label)}</td><td>${fmtLR(t.lr)}</td><td>${t.seed ?? "-"}</td>` +
      `<td class="key">${escapeHTML(t.status)}</td><td>${fmtNum(t.loss)}</td><td class="key">${
        t.dir ? `<a href="${encodeURI(t.dir)}/">${escapeHTML(t.dir)}</a>` : "-"
      }</td></tr>`
    ),
    "</tbody></table></details>",
  ];
}

/** A caller's section: its title, paragraphs and table. */
function extraSection(sec: ReportSection): string[] {
  const out = [
    `<h2>${escapeHTML(sec.title)}</h2>`,
    ...(sec.paragraphs ?? []).map((p) => `<p>${escapeHTML(p)}</p>`),
  ];
  if (sec.table) {
    const cells = (r: string[], tag: string) => r.map((c) => `<${tag}>${escapeHTML(c)}</${tag}>`).join("");
    out.push(
      `<table><thead><tr>${cells(sec.table.header, "th")}</tr></thead><tbody>`,
      ...sec.table.rows.map((r) => `<tr>${cells(r, "td")}</tr>`),
      "</tbody></table>",
    );
  }
  return out;
}

/** Where and with what the sweep ran: commit, versions, machine, dates, compute. */
function provenanceSection(pv: Provenance | undefined): string[] {
  if (!pv) return [];
  const hours = (s: number) => Number.isFinite(s) ? `${s.toFixed(1)} s (${(s / 3600).toFixed(2)} h)` : "n/a";
  const rows: [string, string][] = [
    [
      "git commit",
      `${pv.git_commit}${pv.git_dirty ? " (uncommitted changes)" : pv.git_dirty === false ? " (clean)" : ""}`,
    ],
    ["dmodel", pv.dmodel_version],
    ["Deno / V8 / TypeScript", `${pv.deno} / ${pv.v8} / ${pv.typescript}`],
    ["TensorFlow.js", pv.tfjs],
    ["backends (trials)", Object.entries(pv.backends).map(([b, n]) => `${b} (${n})`).join(", ") || "n/a"],
    ["CPU (this machine)", `${pv.cpu_model}, ${pv.cpu_cores} cores; ${pv.os}`],
    ["report date", pv.date],
    ["trials finished", pv.trials_from ? `${pv.trials_from} .. ${pv.trials_to}` : "n/a"],
    ["total trial wall time", hours(pv.trial_wall_s)],
    [
      "compute",
      `${pv.tokens.toLocaleString("en-US")} tokens; ~${pv.train_flops.toExponential(2)} FLOPs (6 N D)`,
    ],
  ];
  return [
    "<h2>Provenance</h2>",
    '<dl class="prov">',
    ...rows.map(([k, v]) => `<dt>${escapeHTML(k)}</dt><dd>${escapeHTML(v)}</dd>`),
    "</dl>",
  ];
}

/** The pipeline as written beside the resolved one. */
function pipelineSection(opts: ReportOptions): string[] {
  if (opts.pipelineYaml === undefined && opts.pipelineSource === undefined) return [];
  const out = ["<h2>Pipeline</h2>", '<div class="pipelines">'];
  if (opts.pipelineSource !== undefined) {
    out.push(
      "<div><h3>As written (<code>pipeline.source.yaml</code>)</h3>",
      `<pre class="pipeline-source">${escapeHTML(opts.pipelineSource)}</pre></div>`,
    );
  }
  if (opts.pipelineYaml !== undefined) {
    out.push(
      "<div><h3>Resolved (<code>pipeline.yaml</code>)</h3>",
      `<pre class="pipeline">${escapeHTML(opts.pipelineYaml)}</pre></div>`,
    );
  }
  out.push("</div>");
  return out;
}

/**
 * Writes `<dir>/report.html` for an analysis, with the sweep's
 * `pipeline.source.yaml` (as written) and `pipeline.yaml` (resolved) when
 * present. Returns the report's path.
 *
 * @example
 * ```ts
 * const path = await writeReport(await analyzeSweep("runs/width-transfer"));
 * ```
 */
export async function writeReport(a: Analysis, opts: ReportOptions = {}): Promise<string> {
  const read = async (name: string) => (await readTextIfExists(join(a.dir, name))) ?? undefined;
  const pipelineYaml = opts.pipelineYaml ?? await read("pipeline.yaml");
  const pipelineSource = opts.pipelineSource ?? await read("pipeline.source.yaml");
  const path = join(a.dir, "report.html");
  await writeFileAtomic(path, reportHTML(a, { ...opts, pipelineYaml, pipelineSource }));
  if (!a.files.includes("report.html")) a.files.push("report.html");
  return path;
}
