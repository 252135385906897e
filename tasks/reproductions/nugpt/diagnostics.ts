/**
 * The diagnostics of nuGPT's remaining drift over width: one factor at a
 * time from a reference nuGPT (pipelines/repro/nugpt-diagnostics*.yaml), each
 * row's slope against the reference's.
 */
import type { ScalingFit } from "../../../engine/analysis/fit.ts";
import { excludesZero } from "../../../engine/analysis/claims/verdict.ts";
import { num, progressText, type SectionContext, slopeDifference, table, withCI } from "../common.ts";

import { analyze, claimOpening, incomplete, slopeText } from "./shared.ts";

/** One diagnostics sweep: its pipeline, heading, what it varies, and its reference nuGPT's horizon. */
export interface DiagnosticsSpec {
  name: string;
  title: string;
  intro: string[];
  /** train.steps of the reference row (the other rows' horizons are named against it). */
  steps: number;
}

/** The 600-step diagnostics, in the width sweep's setting. */
export const DIAGNOSTICS: DiagnosticsSpec = {
  name: "nugpt-diagnostics",
  title: "Diagnostics: which factor moves eta* over width at this scale",
  intro: [
    "One factor at a time from the width sweep's nuGPT (eps 1e-16, no clipping, exponents 3/4, s_z",
    "exponent 1/2, rescaler_scale 1/sqrt(32), 600 steps), each row's drift measured as the slope of",
    "log2 eta* per doubling of width between widths 16 and 64 (2 seeds, LR 2^-7.5..2^-4). A factor",
    "accounts for drift when its row's slope differs from the reference row's (interval of the",
    "difference excludes 0). Two limits of this design, seen in its results: at width 16 the 600-step",
    "basins are flat (128 tokens per parameter), so every slope's interval is wide; and nGPT's",
    "width-16 optimum (nugpt-width's table above) lies above this grid's top, 2^-4, so nGPT's rows",
    "may have no fitted slope. The next section repeats the rows where the basins are sharp.",
  ],
  steps: 600,
};

/** The same factors in the main job's regime (pipelines/quickstart.yaml: 180 steps, widths 16-64). */
export const DIAGNOSTICS_SHORT: DiagnosticsSpec = {
  name: "nugpt-diagnostics-short",
  title: "Diagnostics in the main job's regime: what moves nuGPT's eta* at 180 steps",
  intro: [
    "The main job (pipelines/quickstart.yaml: 180 steps of 2048 tokens, widths 16 / 32 / 64) measures a",
    "drift for nuGPT that the 600-step width sweep does not. The same one-factor-at-a-time rows in that",
    "setting, where the basins are sharp (2 seeds, LR 2^-6..2^-3), plus the horizon x4 (720 steps) and",
    "nGPT. The paper's account of an early drift: alignment exponents near 1 early in training, where",
    "eta_hidden's -3/4 under-corrects, so exponent 1 and a longer horizon should both reduce it. A",
    "factor accounts for drift when its row's slope differs from the reference row's (interval of the",
    "difference excludes 0).",
  ],
  steps: 180,
};

/** The reference nuGPT's settings; a row is named by the keys where it differs. */
function referenceRow(steps: number): Record<string, unknown> {
  return {
    "parameterization.name": "nugpt",
    "optimizer.eps": 1e-16,
    "optimizer.grad_clip": 0,
    "parameterization.hidden_exponent": 0.75,
    "parameterization.s_z_exponent": 0.5,
    "parameterization.rescaler_scale": 0.1767767,
    "train.steps": steps,
  };
}

/** "nuGPT, eps 1e-8": the rule and the keys in which a row differs from the reference. */
export function rowLabel(keys: Record<string, string | number>, steps: number): string {
  const diff = Object.entries(referenceRow(steps)).filter(([k, v]) =>
    k !== "parameterization.name" && !["", "NaN", "null", "undefined"].includes(String(keys[k] ?? "")) &&
    Number(keys[k]) !== Number(v)
  ).map(([k, _]) =>
    k === "parameterization.hidden_exponent"
      ? `hidden and output exponents ${keys[k]}`
      : `${k.split(".").pop()} ${keys[k]}`
  );
  const rule = keys["parameterization.name"] === "ngpt" ? "nGPT" : "nuGPT";
  return diff.length ? `${rule}, ${diff.join(", ")}` : `${rule} (reference)`;
}

/** A diagnostics section and, once complete, the nuGPT rows whose drift differs from the reference. */
export async function diagnosticsClaim(
  ctx: SectionContext,
  spec: DiagnosticsSpec,
): Promise<{ md: string; diagnosis: string; rows: { label: string; fit: ScalingFit }[] }> {
  const { p, out } = await claimOpening(ctx, spec.name, spec.title, spec.intro, "model.width", "width");
  if (!p.finished) {
    return {
      md: [...out, incomplete(p, "the drifts")].join("\n"),
      diagnosis: `diagnostics: ${progressText(p)}`,
      rows: [],
    };
  }
  const by = Object.keys(referenceRow(spec.steps));
  const a = await analyze(ctx, p.dir, by, ["model.width"]);
  const label = (f: { family_keys: Record<string, string | number> }) => rowLabel(f.family_keys, spec.steps);
  const ref = a.fits.find((f) => label(f) === "nuGPT (reference)");
  const accounts: string[] = [], widths: number[] = [];
  const rows = a.fits.map((f) => {
    const d = ref && f !== ref ? slopeDifference(f, ref, "model.width") : null;
    if (d?.ci && f.family_keys["parameterization.name"] === "nugpt") widths.push(d.ci[1] - d.ci[0]);
    if (d && excludesZero(d.ci) && f.family_keys["parameterization.name"] === "nugpt") {
      accounts.push(`${label(f)} (${withCI(d.diff, d.ci)})`);
    }
    return [label(f), slopeText(f, "model.width"), d ? withCI(d.diff, d.ci) : "-"];
  });
  out.push(
    table(["row", "slope per doubling of width [95% CI]", "minus the reference [95% CI]"], rows),
    "",
  );
  if (!p.complete) out.push(incomplete(p, "the drifts"));
  const diagnosis = !p.complete
    ? `diagnostics: ${progressText(p)}`
    : accounts.length
    ? `diagnostics (${spec.name}): the nuGPT rows whose drift over width differs from the reference: ${
      accounts.join("; ")
    }`
    : `diagnostics (${spec.name}): no single factor changes nuGPT's drift over width significantly` +
      (widths.length
        ? ` (the nuGPT rows' intervals of the difference are ${
          num(widths.sort((x, y) => x - y)[Math.floor(widths.length / 2)], 2)
        } wide on median: a change smaller than about half that cannot be told from none here)`
        : "");
  if (p.complete) out.push(`**Diagnosis.** ${diagnosis.replace(/^diagnostics \([^)]*\): /, "")}.`);
  return { md: out.join("\n"), diagnosis, rows: a.fits.map((f) => ({ label: label(f), fit: f })) };
}
