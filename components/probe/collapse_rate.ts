/**
 * The rate of rank collapse in depth (Dong et al. 2021; docs/reference.md
 * section 6). Their bound for an attention-only stack,
 *
 *   res(X_l) <= (4 gamma beta / sqrt(d))^((3^l - 1) / 2) res(X_0)^(3^l),
 *
 * is doubly exponential: log res(X_l) ~ -c 3^l, so log(-log res_l) is linear
 * in l with slope log 3. Given the measured residuals per layer this fits
 * both readings by least squares:
 *
 * - exponential: log res_l = a + l log rho (rho = exp(slope) per layer);
 * - doubly exponential: log(-log res_l) = a + l log b (b = 3 at Dong's bound).
 *
 * Only layers >= 1 with floor < res_l < 1 enter (below the floor float32
 * rounding, not the model, sets the residual).
 */
import { leastSquares } from "../../engine/core/least_squares.ts";

/** Least-squares line y = a + s x, with r^2. */
export function olsLine(x: number[], y: number[]): { slope: number; intercept: number; r2: number } {
  const ls = leastSquares(x.map((v) => [v]), y);
  if (!ls) return { slope: NaN, intercept: NaN, r2: NaN }; // x does not vary
  // A constant y lies on a flat line exactly.
  return { slope: ls.coef[1], intercept: ls.coef[0], r2: Number.isNaN(ls.r2) ? 1 : ls.r2 };
}

/** Both fits of one residual-vs-layer curve. */
export interface CollapseRate {
  /** Layers used. */
  points: number;
  /** rho: the residual shrinks by this factor per layer (exponential reading). */
  per_layer_factor: number;
  exp_r2: number;
  /** b: log(1/res) grows by this factor per layer (doubly exponential reading; 3 at Dong's bound). */
  dexp_base: number;
  dexp_r2: number;
}

/**
 * Fits the collapse rate of residuals res[i] at layers[i]; null with fewer than 3 usable layers.
 *
 * @example
 * ```ts
 * fitCollapseRate([1, 2, 3], [0.9, 0.729, 0.387]); // dexp_base ~ 3
 * ```
 */
export function fitCollapseRate(layers: number[], residual: number[], floor = 1e-6): CollapseRate | null {
  const l: number[] = [], r: number[] = [];
  layers.forEach((x, i) => {
    if (x >= 1 && residual[i] > floor && residual[i] < 1) {
      l.push(x);
      r.push(residual[i]);
    }
  });
  if (l.length < 3) return null;
  const e = olsLine(l, r.map(Math.log));
  const d = olsLine(l, r.map((v) => Math.log(-Math.log(v))));
  return {
    points: l.length,
    per_layer_factor: Math.exp(e.slope),
    exp_r2: e.r2,
    dexp_base: Math.exp(d.slope),
    dexp_r2: d.r2,
  };
}
