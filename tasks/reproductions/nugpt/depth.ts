/**
 * Depth transfer (arXiv 2604.27077 Fig. 3, section 4.5 / Fig. 8): the archived
 * nugpt-depth sweep (pipelines/repro/nugpt-depth.yaml), with the depth-muP
 * factor that the paper says breaks it.
 */
import * as aq from "arquero";
import { loadResults } from "../../../engine/analysis/load.ts";
import { depthVerdict, PRACTICAL_COST, transfersInPractice } from "../../../engine/analysis/claims/depth.ts";
import type { ScalingFit } from "../../../engine/analysis/fit.ts";
import { SLOPE_TOLERANCE } from "../../../engine/analysis/claims/width.ts";
import { fromCSV } from "../../../engine/core/csv.ts";
import { build } from "../../../engine/core/registry.ts";
import type { Parameterization } from "../../../engine/core/contracts.ts";
import { scaleContext } from "../../../engine/nn/scaling.ts";
import {
  type ClaimText,
  fig,
  lrText,
  notYet,
  num,
  progressText,
  type SectionContext,
  sweepProgress,
  table,
  verdictLine,
} from "../common.ts";

import {
  analyze,
  claimOpening,
  familyFit,
  familyLabel,
  type Fitted,
  groupsOf,
  incomplete,
  largestScale,
  OPTIMA_HEADER,
  optimaRows,
  readableFigures,
  slopeReading,
  slopeText,
} from "./shared.ts";

/** The deeper, longer study (pipelines/repro/nugpt-depth-16.yaml), read once archived. */
export const DEPTH_16 = "nugpt-depth-16";

/** The depth claim's markdown (table, slopes over depth, figure, verdict line). */
export async function depthClaim(ctx: SectionContext): Promise<ClaimText> {
  const { p, out } = await claimOpening(
    ctx,
    "nugpt-depth",
    "Depth: both rules transfer over depth; a depth-muP factor on eta_hidden breaks it",
    [
      "Paper (Fig. 3, section 4.5 / Fig. 8): baseline nGPT already transfers decently over depth; nuGPT",
      'transfers; an m_depth^(-1/2) factor on eta_hidden (Depth-muP) makes eta* "strongly drift to the',
      'right". Here: depths 2 / 4 / 8 at width 32, 400 steps of 2048 tokens, 3 seeds (nugpt-depth), extended to',
      "depth 16 and to 1600 steps for nuGPT with and without depth-muP (nugpt-depth-16). Rule (`depthVerdict` in",
      "engine/analysis/claims/depth.ts): (1) nGPT and (2) nuGPT transfer when the band rule calls their",
      `slopes "transfers" (95% interval inside +-${SLOPE_TOLERANCE}), or, where it cannot decide, when they transfer in`,
      `practice (the same grid optimum at every depth, and carrying depth 2's LR costs at most ${PRACTICAL_COST} nats);`,
      '(3) depth-muP breaks transfer when its slope "drifts" upwards by the band rule. Reproduced when all',
      "three are supported, partly when two are.",
    ],
    "model.depth",
    "depth",
  );
  if (!p.finished) return notYet([...out, incomplete(p, "the optima")]);
  const a = await analyze(ctx, p.dir, ["parameterization.name", "parameterization.depth_exponent"], [
    "model.depth",
  ]);
  await readableFigures(p.dir, a, ["model.depth"]);
  const ng = familyFit(a.fits, { "parameterization.name": "ngpt" });
  const nu = familyFit(a.fits, { "parameterization.name": "nugpt", "parameterization.depth_exponent": 0 });
  const nd = familyFit(a.fits, { "parameterization.name": "nugpt", "parameterization.depth_exponent": 0.5 });
  out.push(
    table(OPTIMA_HEADER("depth"), [
      ...optimaRows(groupsOf(a, ng), "nGPT", "model.depth", ng),
      ...optimaRows(groupsOf(a, nu), "nuGPT", "model.depth", nu),
      ...optimaRows(groupsOf(a, nd), "nuGPT + depth-muP", "model.depth", nd),
    ]),
    "",
    `- nGPT: ${slopeText(ng, "model.depth")}; in practice: ${practiceText(a, ng)}`,
    `- nuGPT: ${slopeText(nu, "model.depth")}; in practice: ${practiceText(a, nu)}`,
    `- nuGPT with m_depth^(-1/2) on eta_hidden: ${slopeText(nd, "model.depth")}; in practice: ${
      practiceText(a, nd)
    }`,
    "",
    fig(ctx, `${p.dir}/figures/eta_vs_depth.png`, "eta* vs depth"),
    "",
    "(The y axis spans at least 3 octaves, so the per-depth differences read against the LR grid's",
    "half-octave spacing and the optima's intervals, not against the panel's height.)",
    "",
  );
  if (!p.complete) return notYet([...out, incomplete(p, "the numbers")]);
  const call = (f: ScalingFit | undefined) => slopeReading(f, "model.depth")?.call ?? null;
  const practical = (f: ScalingFit | undefined) => transfersInPractice(depthGroups(a, f));
  const p16 = await sweepProgress(ctx, DEPTH_16);
  out.push(
    `The paper reports depth-muP breaking transfer over depths 8-128; these runs reach depth 16. Depth 16 and a`,
    `4x longer horizon are \`pipelines/repro/${DEPTH_16}.yaml\` (its header: design, measured step cost, size): ${
      p16.planned === null ? "not run yet" : progressText(p16)
    }.`,
    "",
  );
  // Once the deeper, longer study is complete, statements (2) and (3) are read at its longest horizon.
  let nu2 = nu, nd2 = nd, a2: Fitted = a, where = "nugpt-depth, 400 steps";
  let verdictSteps: number | undefined;
  if (p16.finished) {
    const b = await analyze(ctx, p16.dir, ["parameterization.depth_exponent", "train.steps"], [
      "model.depth",
    ]);
    const label = (k: Record<string, unknown>) => `${familyLabel(k)}, ${k["train.steps"]} steps`;
    await readableFigures(p16.dir, b, ["model.depth"], label);
    const horizons = [...new Set(b.optima.groups.map((g) => Number(g.keys["train.steps"])))].sort((x, y) =>
      x - y
    );
    const rows: (string | number)[][] = [];
    for (const steps of horizons) {
      for (const e of [0, 0.5]) {
        const keys = { "parameterization.depth_exponent": e, "train.steps": steps };
        const f = familyFit(b.fits, keys), name = label({ ...keys, "parameterization.name": "nugpt" });
        const gs = groupsOf(b, f);
        if (!gs.length) {
          out.push(`- ${name}: no finished trials yet`);
          continue;
        }
        rows.push(...optimaRows(gs, name, "model.depth", f));
        out.push(`- ${name}: ${slopeText(f, "model.depth")}; in practice: ${practiceText(b, f)}`);
      }
    }
    out.push(
      "",
      table(OPTIMA_HEADER("depth"), rows),
      "",
      fig(ctx, `${p16.dir}/figures/eta_vs_depth.png`, "eta* vs depth to 16"),
      "",
    );
    // Statements (2) and (3) are read at the longest horizon whose every planned trial has finished.
    const done: number[] = [];
    for (const steps of horizons) {
      if ((await sweepProgress(ctx, DEPTH_16, (t) => t.config.train.steps === steps)).complete) {
        done.push(steps);
      }
    }
    const longest = done[done.length - 1];
    if (longest !== undefined) {
      nu2 = familyFit(b.fits, { "parameterization.depth_exponent": 0, "train.steps": longest });
      nd2 = familyFit(b.fits, { "parameterization.depth_exponent": 0.5, "train.steps": longest });
      a2 = b;
      where = `${DEPTH_16}, ${longest} steps`;
      verdictSteps = longest;
    }
    if (!p16.complete) {
      out.push(
        incomplete(p16, `${DEPTH_16}'s numbers`).replace("**Verdict: not yet run.** ", "") +
          (longest !== undefined
            ? ` Every trial at ${
              done.join(" and ")
            } steps has finished, so the verdict below reads ${longest} steps;` +
              ` the rows at ${horizons.filter((h) => !done.includes(h)).join(", ")} steps are partial.`
            : ""),
        "",
      );
    }
  }
  // The cost and which LR sets the basin, read where the verdict reads statements (2) and (3).
  const deepNg = largestScale(a, ng, "model.depth");
  const deepest = largestScale(a2, nu2, "model.depth"), deepMuP = largestScale(a2, nd2, "model.depth");
  const shareDir = verdictSteps === undefined ? p.dir : p16.dir;
  const share = await hiddenLRShare(shareDir, verdictSteps);
  const over = await hiddenLRShareOverSteps(shareDir, verdictSteps);
  const diagnosis = [
    deepNg
      ? `The cost of carrying depth 2's LR to depth ${deepNg.scale["model.depth"]} is ${
        num(deepNg.transfer_cost)
      } nats for nGPT (nugpt-depth)${
        deepest && deepMuP
          ? `; to depth ${deepest.scale["model.depth"]}, ${num(deepest.transfer_cost)} nats for nuGPT and ${
            num(deepMuP.transfer_cost)
          } nats for nuGPT + depth-muP (${where})`
          : ""
      }.`
      : "",
    share
      ? `Depth-muP multiplies eta_hidden by m_depth^(-1/2) = ${
        num(share.factor, 2)
      } at depth ${share.depth};` +
        " that moves eta* by +0.5 per doubling of depth only if the hidden matrices' LR sets the basin. At depth" +
        ` ${share.depth} its loss differs from nuGPT's at the same base LR by ${
          num(share.same)
        } nats and from` +
        ` nuGPT's at the LR its hidden matrices get by ${
          num(share.hidden)
        } nats (mean over the ${share.n} LRs` +
        ` where both ran): ${
          share.same < share.hidden / 2
            ? "the other parameters' LR (embeddings, output, scalars) sets the basin at this scale, so the factor hardly moves eta*."
            : share.hidden < share.same / 2
            ? "the hidden matrices' LR sets the basin."
            : "neither group's LR alone sets the basin."
        }`
      : "",
    over.length && share ? overStepsText(over, share.depth) : "",
  ].filter(Boolean).join(" ");
  const rule = depthVerdict(
    { call: call(ng), practical: practical(ng) },
    { call: call(nu2), practical: transfersInPractice(depthGroups(a2, nu2)) },
    { call: call(nd2), slope: slopeReading(nd2, "model.depth")?.coefficient.slope ?? NaN },
  );
  const md = [
    ...out,
    verdictLine(
      rule.verdict,
      `(1) nGPT transfers (nugpt-depth): ${rule.ngpt}; (2) nuGPT transfers (${where}): ${rule.nugpt}; ` +
        `(3) depth-muP drifts to the right (${where}): ${rule.depthMuP} ` +
        `(band rule: slopes inside +-${SLOPE_TOLERANCE} with 95% intervals; in practice: the same grid optimum at every depth and ` +
        `a cost of at most ${PRACTICAL_COST} nats). ${diagnosis}`.trim(),
    ),
  ].join("\n");
  return { md, verdict: rule.verdict };
}

/** A family's groups as the practical rule reads them. */
function depthGroups(a: Fitted, f: ScalingFit | undefined) {
  return groupsOf(a, f).map((g) => ({
    depth: g.scale["model.depth"],
    eta_star_grid: g.eta_star_grid,
    transfer_cost: g.transfer_cost,
  }));
}

/** "grid optimum 2^-5 at every depth, cost at depth 8 0.000 nats" (or the grid optima by depth). */
function practiceText(a: Fitted, f: ScalingFit | undefined): string {
  const gs = depthGroups(a, f).sort((x, y) => x.depth - y.depth);
  if (!gs.length) return "n/a";
  const same = gs.every((g) => g.eta_star_grid === gs[0].eta_star_grid);
  if (gs.length < 2) return `only depth ${gs[0].depth} so far (grid optimum ${lrText(gs[0].eta_star_grid)})`;
  const costs = gs.slice(1).map((g) => `${num(g.transfer_cost)} at depth ${g.depth}`).join(", ");
  return (same
    ? `grid optimum ${lrText(gs[0].eta_star_grid)} at every depth`
    : `grid optimum ${gs.map((g) => lrText(g.eta_star_grid).split(" ")[0]).join(" / ")} by depth`) +
    `; cost of depth ${gs[0].depth}'s LR: ${costs} nats`;
}

/** One logged step of {@link hiddenLRShareOverSteps}. */
export interface ShareAtStep {
  step: number;
  same: number;
  hidden: number;
}

function overStepsText(over: ShareAtStep[], depth: number): string {
  const share = (x: ShareAtStep) => x.same / (x.same + x.hidden);
  const at = (s: number) => over.find((x) => x.step === s);
  const last = over[over.length - 1], mid = at(last.step / 2);
  const shown = [100, 200, last.step].map(at).filter((x): x is ShareAtStep => !!x);
  let extrap = "";
  if (mid && share(last) > share(mid) && share(last) < 0.5) {
    // Growth per doubling of steps over the run's second half, carried on to a share of 1/2.
    const k = Math.log2(share(last) / share(mid));
    const half = last.step * (0.5 / share(last)) ** (1 / k);
    extrap = ` Carrying its growth from step ${mid.step} to ${last.step} (x${
      num(2 ** k, 1)
    } per doubling of steps) on, the hidden matrices' LR would weigh as much as the rest near ${
      Math.round(half / 100) * 100
    } steps: a within-run extrapolation (a longer run has a different cosine schedule), which sets the horizon of ${DEPTH_16}.`;
  }
  return `Over training (train loss, mean over seeds, depth ${depth}): the hidden LR's share same / (same + hidden) is ${
    shown.map((x) => `${num(share(x), 2)} at step ${x.step}`).join(", ")
  }, growing with the horizon.${extrap}`;
}

/**
 * The factor that nuGPT's `depth_exponent` puts on eta_hidden at `depth`,
 * asked of the registered rule (components/parameterization/nugpt.ts): a
 * hidden matrix's LR multiplier with the exponent over the same without it.
 *
 * @example
 * ```ts
 * hiddenDepthFactor(8, 2, 0.5); // 0.5 = (8 / 2)^(-1/2)
 * ```
 */
export function hiddenDepthFactor(depth: number, baseDepth: number, exponent: number): number {
  const hiddenLR = (depth_exponent: number) => {
    const base = { base_width: 32, base_depth: baseDepth };
    const rule = build("parameterization", {
      name: "nugpt",
      ...base,
      horizon_correction: false,
      depth_exponent,
    }) as Parameterization;
    const shape = { width: 32, depth, head_dim: 8, heads: 4, vocab_size: 2, seq_len: 2 };
    const ctx = scaleContext("ngpt", shape, 1, base);
    const decl = { name: "w", role: "hidden" as const, shape: [32, 32], fan_in: 32, fan_out: 32 };
    return rule.param(decl, ctx, rule.model(ctx)).lr_multiplier;
  };
  return hiddenLR(exponent) / hiddenLR(0);
}

/**
 * Which LR sets the loss of nuGPT + depth-muP at the deepest depth: its mean
 * final loss per base LR x against nuGPT's at x (if the non-hidden
 * parameters' LR sets it) and at x m_depth^(-1/2), the LR its hidden
 * matrices get (if theirs does). Mean absolute differences over the LRs
 * where both ran; null when the sweep has no such pairs.
 */
export async function hiddenLRShare(
  dir: string,
  horizon?: number,
): Promise<{ depth: number; factor: number; same: number; hidden: number; n: number } | null> {
  const t = await loadResults(dir);
  const rows = t.filter(
    aq.escape((d: Record<string, unknown>) =>
      d["parameterization.name"] === "nugpt" &&
      (horizon === undefined || Number(d["train.steps"]) === horizon)
    ),
  )
    .groupby("parameterization.depth_exponent", "parameterization.base_depth", "model.depth", "optimizer.lr")
    .rollup({ loss: aq.op.mean("final_val_loss") }).objects() as Record<string, number>[];
  const depth = Math.max(...rows.map((r) => r["model.depth"]));
  const at = (e: number, lr: number) =>
    rows.find((r) =>
      Number(r["parameterization.depth_exponent"]) === e && r["model.depth"] === depth &&
      Math.abs(Math.log2(r["optimizer.lr"] / lr)) < 1e-6
    )?.loss;
  const same: number[] = [], hidden: number[] = [];
  let factor = NaN;
  for (const r of rows.filter((r) => Number(r["parameterization.depth_exponent"]) > 0)) {
    if (r["model.depth"] !== depth) continue;
    factor = hiddenDepthFactor(
      depth,
      r["parameterization.base_depth"],
      Number(r["parameterization.depth_exponent"]),
    );
    const a = at(0, r["optimizer.lr"]), b = at(0, r["optimizer.lr"] * factor);
    if (a === undefined || b === undefined) continue;
    same.push(Math.abs(r.loss - a));
    hidden.push(Math.abs(r.loss - b));
  }
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  return same.length ? { depth, factor, same: mean(same), hidden: mean(hidden), n: same.length } : null;
}

/**
 * {@link hiddenLRShare} at every logged step of the deepest depth, from the
 * trials' train loss (metrics.csv, mean over seeds): how the share of the
 * hidden matrices' LR in setting the loss grows over training.
 */
export async function hiddenLRShareOverSteps(dir: string, horizon?: number): Promise<ShareAtStep[]> {
  const t = await loadResults(dir);
  const rows = t.filter(
    aq.escape((d: Record<string, unknown>) =>
      d["parameterization.name"] === "nugpt" && d.status === "ok" &&
      (horizon === undefined || Number(d["train.steps"]) === horizon)
    ),
  )
    .objects() as Record<string, unknown>[];
  if (!rows.length) return [];
  const depth = Math.max(...rows.map((r) => Number(r["model.depth"])));
  // (depth exponent, log2 lr) -> step -> losses over seeds
  const curves = new Map<string, Map<number, number[]>>();
  let factor = NaN;
  for (const r of rows.filter((r) => Number(r["model.depth"]) === depth)) {
    const e = Number(r["parameterization.depth_exponent"] || 0);
    if (e > 0) factor = hiddenDepthFactor(depth, Number(r["parameterization.base_depth"]), e);
    const key = `${e}|${Math.log2(Number(r["optimizer.lr"])).toFixed(3)}`;
    const m = curves.get(key) ?? curves.set(key, new Map()).get(key)!;
    const { rows: metrics } = fromCSV(await Deno.readTextFile(`${dir}/${r.trial_dir}/metrics.csv`));
    for (const x of metrics) {
      if (x.train_loss === null || x.train_loss === "") continue;
      const s = Number(x.step);
      (m.get(s) ?? m.set(s, []).get(s)!).push(Number(x.train_loss));
    }
  }
  if (!Number.isFinite(factor)) return [];
  const mean = (v?: number[]) => v?.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined;
  const steps = [...new Set([...curves.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const out: ShareAtStep[] = [];
  for (const step of steps) {
    const same: number[] = [], hidden: number[] = [];
    for (const [key, m] of curves) {
      const [e, l] = key.split("|").map(Number);
      if (!(e > 0)) continue;
      const d = mean(m.get(step));
      const a = mean(curves.get(`0|${l.toFixed(3)}`)?.get(step));
      const b = mean(curves.get(`0|${(l + Math.log2(factor)).toFixed(3)}`)?.get(step));
      if (d === undefined || a === undefined || b === undefined) continue;
      same.push(Math.abs(d - a)), hidden.push(Math.abs(d - b));
    }
    if (same.length) {
      out.push({
        step,
        same: same.reduce((x, y) => x + y) / same.length,
        hidden: hidden.reduce((x, y) => x + y) / hidden.length,
      });
    }
  }
  return out;
}
