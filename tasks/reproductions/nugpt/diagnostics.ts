/**
 * The diagnostics of nuGPT's remaining drift over width: one factor at a
 * time from a reference nuGPT (pipelines/repro/nugpt-diagnostics*.yaml), each
 * row's slope against the reference's.
 */
import {
  progressText,
  type SectionContext,
  slopeDifference,
  sweepProgress,
  table,
  withCI,
} from "../common.ts";

import { analyze, incomplete, opening, slopeText } from "./shared.ts";

/** The diagnostics' rows: the key that differs from the reference nuGPT names the row. */
export const REFERENCE_ROW: Record<string, unknown> = {
  "parameterization.name": "nugpt",
  "optimizer.eps": 1e-16,
  "optimizer.grad_clip": 0,
  "parameterization.hidden_exponent": 0.75,
  "parameterization.s_z_exponent": 0.5,
  "parameterization.rescaler_scale": 0.1767767,
  "train.steps": 600,
};

export function rowLabel(keys: Record<string, string | number>): string {
  const diff = Object.entries(REFERENCE_ROW).filter(([k, v]) =>
    k !== "parameterization.name" && !["", "NaN", "null", "undefined"].includes(String(keys[k] ?? "")) &&
    Number(keys[k]) !== Number(v)
  ).map(([k, _]) => `${k.split(".").pop()} ${keys[k]}`);
  const rule = keys["parameterization.name"] === "ngpt" ? "nGPT" : "nuGPT";
  return diff.length ? `${rule}, ${diff.join(", ")}` : `${rule} (reference)`;
}

/** The diagnostics' section and, once complete, the rows whose drift differs from the reference. */
export async function diagnosticsClaim(ctx: SectionContext): Promise<{ md: string; diagnosis: string }> {
  const name = "nugpt-diagnostics", pipeline = "pipelines/repro/nugpt-diagnostics.yaml";
  const p = await sweepProgress(ctx, name);
  const out = [
    "### Diagnostics: which factor moves eta* over width at this scale",
    "",
    "One factor at a time from the width sweep's nuGPT (eps 1e-16, no clipping, exponents 3/4, s_z",
    "exponent 1/2, rescaler_scale 1/sqrt(32), 600 steps), each row's drift measured as the slope of",
    "log2 eta* per doubling of width between widths 16 and 64 (2 seeds, LR 2^-7.5..2^-4). A factor",
    "accounts for drift when its row's slope differs from the reference row's (interval of the",
    "difference excludes 0).",
    "",
    ...(await opening(p, pipeline, "model.width", "width")),
  ];
  if (!p.finished) {
    return {
      md: [...out, incomplete(p, "the drifts")].join("\n"),
      diagnosis: `diagnostics: ${progressText(p)}`,
    };
  }
  const by = Object.keys(REFERENCE_ROW);
  const a = await analyze(ctx, p.dir, by, ["model.width"]);
  const ref = a.fits.find((f) => rowLabel(f.family_keys) === "nuGPT (reference)");
  const accounts: string[] = [];
  const rows = a.fits.map((f) => {
    const d = ref && f !== ref ? slopeDifference(f, ref, "model.width") : null;
    if (d?.ci && (d.ci[0] > 0 || d.ci[1] < 0) && f.family_keys["parameterization.name"] === "nugpt") {
      accounts.push(`${rowLabel(f.family_keys)} (${withCI(d.diff, d.ci)})`);
    }
    return [rowLabel(f.family_keys), slopeText(f, "model.width"), d ? withCI(d.diff, d.ci) : "-"];
  });
  out.push(
    table(["row", "slope per doubling of width [95% CI]", "minus the reference [95% CI]"], rows),
    "",
  );
  if (!p.complete) out.push(incomplete(p, "the drifts"));
  const diagnosis = !p.complete
    ? `diagnostics: ${progressText(p)}`
    : accounts.length
    ? `diagnostics: the nuGPT rows whose drift over width differs from the reference: ${accounts.join("; ")}`
    : "diagnostics: no single factor changes nuGPT's drift over width significantly";
  return { md: out.join("\n"), diagnosis };
}
