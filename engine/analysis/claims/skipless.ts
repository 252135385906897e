/**
 * The verdict rules of the skipless-transformer claims (He et al. 2023, arXiv
 * 2302.10322; docs/reference.md section 5), written before the runs they
 * judge, as pure functions of the measured losses:
 *
 * - (a) "transformers without normalization but with skips train as fast as
 *   pre-LN": reproduced when the norm-free-with-skips val loss at pre-LN's step
 *   count is at most pre-LN's plus twice the seed noise of the difference
 *   ({@link skipsVerdict}); partly when it is within 2% of pre-LN's but not
 *   within the noise (or no seed noise was measured); not reproduced otherwise.
 * - (b) "vanilla transformers with E-SPA reach pre-LN's loss after about 5x
 *   more steps": the crossing ratio r = (first step at which the vanilla val
 *   loss is at most pre-LN's final val loss) / (pre-LN's steps). Reproduced
 *   when E-SPA at the paper's constants has r <= 5; partly when it has r <= 10,
 *   or when only another E-SPA setting has r <= 5; not reproduced otherwise
 *   ({@link vanillaVerdict}).
 */

import { DmodelError } from "../../core/errors.ts";
import type { ClaimVerdict, Verdict } from "./verdict.ts";

/** One point of a val-loss curve. */
export interface CurvePoint {
  step: number;
  loss: number;
}

/**
 * The first step at which the curve is at or below `target`, or null.
 *
 * @example
 * ```ts
 * crossingStep([{ step: 0, loss: 7 }, { step: 50, loss: 4.5 }], 4.6); // 50
 * ```
 */
export function crossingStep(curve: CurvePoint[], target: number): number | null {
  const sorted = [...curve].filter((p) => Number.isFinite(p.loss)).sort((a, b) => a.step - b.step);
  return sorted.find((p) => p.loss <= target)?.step ?? null;
}

/** Sample standard deviation (n - 1), or null for fewer than 2 values. */
export function seedSpread(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Claim (a)'s verdict and the numbers it read. */
export interface SkipsVerdict {
  verdict: ClaimVerdict;
  /** mean(norm-free) - mean(pre-LN), nats. */
  diff: number;
  /** Seed noise of that difference, sqrt(sd_pre^2 / n_pre + sd_nf^2 / n_nf); null with fewer than 2 seeds a side. */
  noise: number | null;
}

/**
 * Claim (a): `preLN` holds pre-LN's final val loss per seed, `normFree` the
 * norm-free-with-skips val loss per seed at pre-LN's step count.
 *
 * @example
 * ```ts
 * skipsVerdict([4.64, 4.66], [4.65, 4.63]).verdict; // "reproduced"
 * ```
 */
export function skipsVerdict(preLN: number[], normFree: number[]): SkipsVerdict {
  if (!preLN.length || !normFree.length) {
    throw new DmodelError("skipsVerdict: needs at least one seed a side");
  }
  const diff = mean(normFree) - mean(preLN);
  const sp = seedSpread(preLN), sn = seedSpread(normFree);
  const noise = sp === null || sn === null
    ? null
    : Math.sqrt(sp ** 2 / preLN.length + sn ** 2 / normFree.length);
  const verdict: ClaimVerdict = diff <= 2 * (noise ?? 0)
    ? "reproduced"
    : diff <= 0.02 * mean(preLN)
    ? "partly"
    : "not reproduced";
  return { verdict, diff, noise };
}

/** One vanilla variant's crossing of pre-LN's final loss. */
export interface VanillaCrossing {
  label: string;
  /** E-SPA at the paper's constants (gamma_L = 0.005, TAT eta = 0.9). */
  paper: boolean;
  /** Crossing step / pre-LN's steps; null when it never crossed. */
  ratio: number | null;
}

/** Claim (b)'s verdict and the variant that decided it. */
export interface VanillaVerdict {
  verdict: ClaimVerdict;
  /** The decisive variant (best ratio among those the verdict used), if any crossed. */
  by: VanillaCrossing | null;
}

/**
 * Claim (b) from every E-SPA variant's crossing ratio.
 *
 * @example
 * ```ts
 * vanillaVerdict([{ label: "E-SPA (paper)", paper: true, ratio: 4.5 }]).verdict; // "reproduced"
 * ```
 */
export function vanillaVerdict(variants: VanillaCrossing[]): VanillaVerdict {
  const best = (vs: VanillaCrossing[]) =>
    vs.filter((v) => v.ratio !== null).sort((a, b) => a.ratio! - b.ratio!)[0] ?? null;
  const paper = best(variants.filter((v) => v.paper));
  const other = best(variants.filter((v) => !v.paper));
  if (paper && paper.ratio! <= 5) return { verdict: "reproduced", by: paper };
  if (paper && paper.ratio! <= 10) return { verdict: "partly", by: paper };
  if (other && other.ratio! <= 5) return { verdict: "partly", by: other };
  return { verdict: "not reproduced", by: paper ?? other };
}

/**
 * Claim (b)'s verdict while some variants of its depth are still running: a
 * later variant can only add a crossing, so only `reproduced` is final;
 * anything else reads `not yet run`.
 *
 * @example
 * ```ts
 * provisionalVanilla("partly", true); // "not yet run"
 * ```
 */
export function provisionalVanilla(v: ClaimVerdict, unfinished: boolean): Verdict {
  return unfinished && v !== "reproduced" ? "not yet run" : v;
}

/** One finished trial of an LR-tuned group: its LR, seed, final val loss (NaN unless ok) and val curve. */
export interface TunedTrial {
  lr: number;
  seed: number;
  /** Final val loss; NaN when the trial diverged or failed. */
  final: number;
  curve: CurvePoint[];
}

/** A group's tuned LR and what it reached there. */
export interface TunedResult {
  /** The LR with the lowest seed-mean final val loss (among LRs whose every seed finished ok). */
  lr: number;
  /** Seed-mean final val loss at that LR. */
  mean: number;
  /** Per-seed final val losses at that LR. */
  finals: number[];
  /** Seed spread at that LR (null with one seed). */
  spread: number | null;
  /** Seed-mean val curve at that LR (steps every seed logged). */
  curve: CurvePoint[];
  /** LRs run, and how many of them had every seed finish ok. */
  lrsRun: number;
  lrsStable: number;
  /** An LR below and one above the tuned LR have run (worse or diverged): the optimum is bracketed. */
  bracketed: boolean;
}

/**
 * The tuned LR of one group (every other setting fixed): the LR whose seeds
 * all finished with the lowest mean final val loss; null when none did.
 *
 * @example
 * ```ts
 * tunedLR([{ lr: 1e-3, seed: 0, final: 4.7, curve: [] }, { lr: 3e-3, seed: 0, final: 4.6, curve: [] }])?.lr; // 3e-3
 * ```
 */
export function tunedLR(trials: TunedTrial[]): TunedResult | null {
  const byLR = new Map<number, TunedTrial[]>();
  for (const t of trials) byLR.set(t.lr, [...(byLR.get(t.lr) ?? []), t]);
  let best: TunedResult | null = null, stable = 0;
  for (const [lr, ts] of byLR) {
    if (!ts.every((t) => Number.isFinite(t.final))) continue;
    stable++;
    const finals = ts.map((t) => t.final), m = mean(finals);
    if (best && best.mean <= m) continue;
    const steps = ts.map((t) =>
      new Map(t.curve.filter((p) => Number.isFinite(p.loss)).map((p) => [p.step, p.loss]))
    );
    const curve = [...steps[0].keys()].filter((s) => steps.every((c) => c.has(s))).sort((a, b) => a - b)
      .map((step) => ({ step, loss: mean(steps.map((c) => c.get(step)!)) }));
    best = {
      lr,
      mean: m,
      finals,
      spread: seedSpread(finals),
      curve,
      lrsRun: 0,
      lrsStable: 0,
      bracketed: false,
    };
  }
  const lrs = [...byLR.keys()];
  return best && {
    ...best,
    lrsRun: byLR.size,
    lrsStable: stable,
    bracketed: lrs.some((x) => x < best!.lr) && lrs.some((x) => x > best!.lr),
  };
}
