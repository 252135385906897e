/**
 * The plain answer: two or three sentences per family that a newcomer can
 * act on, opening analysis.md and report.html. From the joint law
 * (./joint.ts): the verdict in words; the LR to use at each measured scale
 * and at each `--predict` scale (the law's value, with its interval); what
 * limits the precision (the largest of the slope's uncertainty terms: trial
 * noise, basin shape, grid resolution, scatter of the scales about the law)
 * and the caveats the analysis knows (one seed, the base scale's optimum at
 * a grid edge or left out, a short training horizon).
 */
import type { JointFit } from "./joint.ts";
import type { Prediction } from "./fit.ts";
import { shortName } from "./naming.ts";

/** Below this many training steps the horizon caveat is given (the archived width sweep trains 600). */
export const SHORT_HORIZON = 600;

/** Context of the plain answer beyond the fits. */
export interface AnswerContext {
  predictions: Prediction[];
  /** Largest `train.steps` of the trials (NaN when unknown). */
  steps?: number;
}

/** "0.0312 (2^-5.00)" with 3 significant digits. */
function lr(x: number): string {
  return `${(2 ** x).toPrecision(3)} (2^${x.toFixed(2)})`;
}

const f2 = (v: number) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
/** Nats with 3 decimals, "-0.000" shown as "0.000". */
const nats = (v: number) => (Math.abs(v) < 0.0005 ? 0 : v).toFixed(3);

/** What limits the precision of a slope, in words. */
export function precisionLimit(f: JointFit, j = 0): string {
  const terms: [string, number][] = [
    ["trial noise (more seeds at the LRs next to each optimum would narrow it)", f.u_stat[j] / f.birge],
    [
      `the scatter of the scales' optima about the power law (interval widened x${f.birge.toFixed(1)})`,
      f.u_stat[j] * (1 - 1 / f.birge),
    ],
    [
      "the basin's shape (the basin models disagree; half-steps of the LR grid near eta* would narrow it)",
      f
        .u_model[j],
    ],
    [
      `the LR grid's step of ${f.grid_step.toFixed(2)} octaves (half-steps near eta* would narrow it)`,
      f.u_res[j],
    ],
  ];
  const [what, u] = terms.filter(([, v]) => Number.isFinite(v)).sort((a, b) => b[1] - a[1])[0] ?? ["?", NaN];
  return `${what}, ±${f2(1.96 * u)} of the slope`;
}

/**
 * The plain answer of each family: its sentences (module header).
 *
 * @example
 * ```ts
 * for (const [family, s] of plainAnswers(fits, { predictions: [] })) console.log(family, s.join(" "));
 * ```
 */
export function plainAnswers(fits: JointFit[], ctx: AnswerContext): [string, string[]][] {
  return fits.map((f) => {
    const out: string[] = [];
    const c = f.coefficients[0];
    if (!c) {
      out.push(`No verdict: ${f.note ?? "no fit"}.`);
      if (f.excluded.length) {
        out.push(`Left out (optimum at the edge of the LR grid): ${f.excluded.join(", ")}.`);
      }
      return [f.family, out];
    }
    const axis = shortName(c.scale);
    const ci = c.slope_ci ? ` (95% CI [${f2(c.slope_ci[0])}, ${f2(c.slope_ci[1])}])` : " (no interval)";
    const [mn, mx] = f.range[c.scale];
    const moves = `eta* moves by x2^${f2(c.slope)} per doubling of ${axis}${ci}`;
    if (c.call === "transfers") {
      out.push(
        `The learning rate transfers across ${axis} ${mn}-${mx}: ${moves}, within ±${f2(f.tolerance)}; ` +
          `tune it once at the smallest ${axis} and reuse it.`,
      );
    } else if (c.call === "drifts") {
      out.push(
        `The learning rate does not transfer across ${axis} ${mn}-${mx}: ${moves}; ` +
          `scale it as (${axis} / ${mn})^${f2(c.slope)}.`,
      );
    } else {
      out.push(
        `Not decided across ${axis} ${mn}-${mx}: ${moves}, so it may or may not move by more than ` +
          `±${f2(f.tolerance)} per doubling.`,
      );
    }
    const at = f.per_scale.filter((s) => Number.isFinite(s.log2_eta)).map((s) =>
      `${lr(s.log2_eta)}${
        s.log2_eta_ci ? ` [2^${s.log2_eta_ci[0].toFixed(2)}, 2^${s.log2_eta_ci[1].toFixed(2)}]` : ""
      } at ${s.label}`
    );
    const pred = ctx.predictions.filter((p) => p.family === f.family).map((p) =>
      `${lr(Math.log2(p.eta_star))}${
        Number.isFinite(p.eta_lo)
          ? ` [2^${Math.log2(p.eta_lo).toFixed(2)}, 2^${Math.log2(p.eta_hi).toFixed(2)}]`
          : ""
      } at ${Object.entries(p.scale).map(([k, v]) => `${shortName(k)}=${v}`).join(", ")}${
        p.warning ? " (extrapolated)" : ""
      }`
    );
    const last = f.per_scale[f.per_scale.length - 1];
    const cost = last && Number.isFinite(last.cost) && last !== f.per_scale[0]
      ? `; reusing the smallest scale's LR at ${last.label} costs ${nats(last.cost)} nats${
        last.cost_ci ? ` [${nats(last.cost_ci[0])}, ${nats(last.cost_ci[1])}]` : ""
      } of loss (from the fitted curves)`
      : "";
    out.push(`Use LR ${[...at, ...pred].join("; ")}${cost}.`);
    const caveats: string[] = [`precision is limited by ${precisionLimit(f)}`];
    if (f.noise.source === "prior") caveats.push("one seed: the trial noise is a stated prior, not measured");
    const base = f.per_scale[0];
    if (base?.excluded) {
      caveats.push(`the smallest scale (${base.label}) has its optimum at the LR grid's edge`);
    }
    const others = f.per_scale.slice(1).filter((s) => s.excluded).map((s) => s.label);
    if (others.length) caveats.push(`left out, optimum at the LR grid's edge: ${others.join(", ")}`);
    if (ctx.steps !== undefined && ctx.steps < SHORT_HORIZON) {
      caveats.push(
        `the horizon (${ctx.steps} steps) is short: early in training the alignment exponents are near 1 ` +
          `and eta* can drift where a longer run transfers`,
      );
    }
    out.push(`${caveats[0][0].toUpperCase()}${caveats.join("; ").slice(1)}.`);
    return [f.family, out];
  });
}
