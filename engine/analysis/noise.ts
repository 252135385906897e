/**
 * Trial noise where it is: the seed-to-seed standard deviation of the loss
 * as a function of how far above the group's optimum an LR sits,
 *
 *   sigma(z) = sigma0 * exp(beta * min(z, 3)),   z = max(0, log2 lr - log2 eta*_grid)  (octaves),
 *
 * one (sigma0, beta) per family, so every group's cells inform it (the
 * shrinkage: 2 or 3 seeds give one or two degrees of freedom per cell, far
 * too few for a per-cell sd, but a family has 30-80 such cells).
 *
 * Data: per (group, LR) cell with n >= 2 finished seeds, the sample variance
 * v of the seed-offset-adjusted losses, nu = n - 1 degrees of freedom; under
 * normal noise nu v / sigma^2 ~ chi^2_nu.
 *
 * Fit: maximum likelihood of that scaled chi^2 (a gamma likelihood in v),
 * sigma0 in closed form for each beta on a grid 0..1.5 per octave, with a
 * weak normal prior on beta (mean 0.3, sd 0.4: noise usually grows towards
 * the cliff, and the prior only matters when the cells cannot tell).
 * Robust to a single seed that jumps by 0.05-0.3 nats near the divergence
 * wall: each cell's v / sigma^2 is winsorized at the 99% quantile of
 * chi^2_nu / nu (iterated), so a jump counts as an unusually large cell, not
 * as a 100x larger variance. A cell's own variance still matters where it
 * is used: the variance of a cell mean is the shrunken
 *
 *   s^2 = (NU0 sigma(z)^2 + nu v) / (NU0 + nu),   NU0 = 6,
 *
 * so a cell whose seeds disagree (a jump) is down-weighted in the fit, and
 * a cell whose two seeds agree by chance is not trusted more than the model.
 *
 * One seed: no cell has a variance. The noise is then a stated prior
 * (sigma0 = `PRIOR_SIGMA0`, beta = `PRIOR_BETA`), said in the report, and the
 * joint fit's lack-of-fit (Birge) factor widens the intervals when the data
 * scatter more than the prior says.
 */

/** Octaves above the optimum beyond which the noise stops growing. */
export const Z_CAP = 3;
/** Prior degrees of freedom of the noise model in a cell's shrunken variance. */
export const NU0 = 6;
/** One-seed prior: trial sd at the optimum (nats), from the archived small-scale sweeps (0.013-0.022). */
export const PRIOR_SIGMA0 = 0.015;
/** One-seed prior: growth per octave above the optimum. */
export const PRIOR_BETA = 0.3;

/** One cell's seed-to-seed variance. */
export interface NoiseCell {
  /** Octaves above the group's grid optimum (negative below). */
  z: number;
  /** Sample variance of the finished seeds' adjusted losses. */
  v: number;
  /** Its degrees of freedom (finished seeds - 1). */
  nu: number;
}

/** The fitted noise model of a family. */
export interface NoiseModel {
  /** sd at and below the optimum (nats). */
  sigma0: number;
  /** Growth of log sd per octave above the optimum. */
  beta: number;
  /** Cells (group x LR) used. */
  cells: number;
  /** Total degrees of freedom of the cells used. */
  dof: number;
  /** Cells whose variance was winsorized (seed jumps). */
  winsorized: number;
  /** "seeds": fitted from seed-to-seed scatter; "prior": one seed, the stated prior. */
  source: "seeds" | "prior";
}

/** sd of one trial at z octaves above the optimum. */
export function noiseSd(m: NoiseModel, z: number): number {
  return m.sigma0 * Math.exp(m.beta * Math.min(Math.max(z, 0), Z_CAP));
}

/** 99% quantile of chi^2_nu / nu for nu = 1..6 (beyond: normal approximation). */
function chi2q99(nu: number): number {
  const t = [6.635, 4.605, 3.782, 3.319, 3.017, 2.802];
  return nu <= t.length ? t[nu - 1] : 1 + 2.326 * Math.sqrt(2 / nu);
}

/**
 * Fits sigma(z) to the cells (module header). With no cell (one seed) the
 * prior is returned with source "prior".
 *
 * @example
 * ```ts
 * const m = fitNoiseModel([{ z: 0, v: 1e-4, nu: 2 }, { z: 2, v: 4e-4, nu: 2 }]);
 * noiseSd(m, 1); // between 0.01 and 0.02
 * ```
 */
export function fitNoiseModel(cells: NoiseCell[]): NoiseModel {
  const cs = cells.filter((c) => c.nu >= 1 && Number.isFinite(c.v) && Number.isFinite(c.z));
  const dof = cs.reduce((a, c) => a + c.nu, 0);
  if (!cs.length || !(cs.some((c) => c.v > 0))) {
    return { sigma0: PRIOR_SIGMA0, beta: PRIOR_BETA, cells: 0, dof: 0, winsorized: 0, source: "prior" };
  }
  const zc = cs.map((c) => Math.min(Math.max(c.z, 0), Z_CAP));
  let best = { ll: -Infinity, sigma0: NaN, beta: 0, wins: 0 };
  for (let k = 0; k <= 30; k++) {
    const beta = k * 0.05;
    const e = zc.map((z) => Math.exp(2 * beta * z));
    // sigma0^2 by the winsorized closed form, iterated (the cap depends on sigma0).
    let s2 = cs.reduce((a, c, i) => a + c.nu * c.v / e[i], 0) / dof;
    let wins = 0;
    for (let it = 0; it < 4; it++) {
      wins = 0;
      let num = 0;
      for (let i = 0; i < cs.length; i++) {
        const r = cs[i].v / (s2 * e[i]), cap = chi2q99(cs[i].nu);
        if (r > cap) wins++;
        num += cs[i].nu * Math.min(r, cap) * s2;
      }
      s2 = Math.max(num / dof, 1e-12);
    }
    let ll = 0;
    for (let i = 0; i < cs.length; i++) {
      const sig2 = s2 * e[i], r = Math.min(cs[i].v / sig2, chi2q99(cs[i].nu));
      ll += -(cs[i].nu / 2) * (Math.log(sig2) + r);
    }
    ll -= (beta - PRIOR_BETA) ** 2 / (2 * 0.4 ** 2);
    if (ll > best.ll) best = { ll, sigma0: Math.sqrt(s2), beta, wins };
  }
  return {
    sigma0: best.sigma0,
    beta: best.beta,
    cells: cs.length,
    dof,
    winsorized: best.wins,
    source: "seeds",
  };
}

/** The variance of one trial in a cell: the model's, shrunk towards the cell's own (header). */
export function cellVariance(m: NoiseModel, z: number, v: number, nu: number): number {
  const s2 = noiseSd(m, z) ** 2;
  return nu >= 1 && Number.isFinite(v) ? (NU0 * s2 + nu * v) / (NU0 + nu) : s2;
}

/** The noise model in words, for reports. */
export function noiseText(m: NoiseModel): string {
  const at = (z: number) => noiseSd(m, z).toFixed(4);
  return m.source === "prior"
    ? `one seed: no seed-to-seed scatter, so the noise is a stated prior (sd ${at(0)} nats at the optimum, ` +
      `${at(1)} one octave above, ${at(2)} two above), widened by the fit's lack of fit`
    : `sd ${at(0)} nats at the optimum, ${at(1)} one octave above, ${at(2)} two above ` +
      `(${m.cells} cells, ${m.dof} dof${
        m.winsorized ? `; ${m.winsorized} cells with a seed jump capped` : ""
      })`;
}
