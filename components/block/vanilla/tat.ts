/**
 * Tailored Activation Transformation for leaky ReLU (Zhang et al. 2022, used
 * for the MLP blocks of vanilla transformers, He et al. arXiv 2302.10322;
 * docs/reference.md section 5).
 *
 * The normalized leaky ReLU phi(x) = sqrt(2 / (1 + s^2)) (max(x, 0) + s min(x, 0))
 * keeps E[phi(x)^2] = 1 for x ~ N(0, 1) (q map fixed at 1), and maps the
 * correlation c of two unit-variance Gaussian inputs to (the "C map")
 *
 *   C(c) = c + (1 - s)^2 / (pi (1 + s^2)) * (sqrt(1 - c^2) - c arccos(c)).
 *
 * TAT picks the slope s so that the C map of the whole stack of n MLP
 * nonlinearities, composed, sends 0 to eta (0.9): C^n(0) = eta. C^n(0) falls
 * monotonically as s goes from -1 to 1 (s = 1 is linear, C^n(0) = 0), so s
 * is found by bisection on (-1, 1]. For shallow stacks (n < ~12) the solution
 * is a negative slope: a plain ReLU (s = 0) cannot reach 0.9 in so few layers.
 */
import { DmodelError } from "../../../engine/core/errors.ts";

/** C map of the normalized leaky ReLU of slope s at correlation c. */
export function leakyReluCMap(c: number, slope: number): number {
  const k = (1 - slope) ** 2 / (Math.PI * (1 + slope * slope));
  const cc = Math.max(-1, Math.min(1, c));
  return cc + k * (Math.sqrt(Math.max(0, 1 - cc * cc)) - cc * Math.acos(cc));
}

/** C^n(0): the C map composed n times, at 0. */
export function composedCMapAtZero(slope: number, n: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) c = leakyReluCMap(c, slope);
  return c;
}

/** Output scale of the normalized leaky ReLU: sqrt(2 / (1 + s^2)). */
export function leakyReluGain(slope: number): number {
  return Math.sqrt(2 / (1 + slope * slope));
}

/**
 * The TAT slope s with C^n(0) = eta for n composed nonlinearities.
 *
 * @example
 * ```ts
 * const s = tatSlope(24, 0.9); // about 0.24; composedCMapAtZero(s, 24) = 0.9
 * ```
 */
export function tatSlope(n: number, eta = 0.9): number {
  if (!(n >= 1)) throw new DmodelError(`tatSlope: number of nonlinear layers must be >= 1, got ${n}`);
  if (!(eta > 0 && eta < 1)) throw new DmodelError(`tatSlope: eta must be in (0, 1), got ${eta}`);
  let lo = -1 + 1e-9, hi = 1; // f(lo) largest, f(hi) = 0
  const best = composedCMapAtZero(lo, n);
  if (best < eta) {
    throw new DmodelError(
      `TAT: ${n} leaky-ReLU layer(s) reach at most C(0) = ${best.toFixed(4)} < eta = ${eta}; ` +
        `lower the block's tat_eta or use more layers`,
    );
  }
  for (let i = 0; i < 200 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (composedCMapAtZero(mid, n) > eta) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
