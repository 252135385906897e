/**
 * Alignment exponents over seeds: the study's trials grouped by `train.seed`,
 * each seed's exponents fitted across its widths
 * ({@link alignmentAcrossWidths}) and loss-weighted
 * ({@link weightedAlignment}), then every quantity summarised by its mean
 * and 95% Student-t interval across seeds (engine/analysis/t_interval.ts).
 * The seeds are the replication: each seed's fit is one draw of the exponent.
 */
import YAML from "yaml";
import { meanInterval } from "../../engine/analysis/t_interval.ts";
import {
  alignmentAcrossWidths,
  type ExponentFit,
  weightedAlignment,
  type WeightedExponent,
} from "./alignment.ts";

/** One seed's trials, fitted exponents and loss-weighted averages. */
export interface SeedAlignment {
  seed: number;
  dirs: string[];
  widths: number[];
  fits: ExponentFit[];
  weighted: WeightedExponent[];
}

/** The seed and width of a trial directory (its config.yaml). */
async function seedAndWidth(dir: string): Promise<{ seed: number; width: number }> {
  const cfg = YAML.parse(await Deno.readTextFile(`${dir}/config.yaml`)) as {
    model?: { width?: number };
    train?: { seed?: number };
  };
  return { seed: Number(cfg?.train?.seed ?? 0), width: Number(cfg?.model?.width) };
}

/**
 * Groups trial directories by seed and fits each seed on its own; a seed with
 * a single width gets only its single-model (local) averages.
 *
 * @example
 * ```ts
 * const seeds = await alignmentBySeed(["runs/alignment/w16-s0", "runs/alignment/w32-s0"]);
 * ```
 */
export async function alignmentBySeed(dirs: string[]): Promise<SeedAlignment[]> {
  const by = new Map<number, { dir: string; width: number }[]>();
  for (const dir of dirs) {
    const { seed, width } = await seedAndWidth(dir);
    (by.get(seed) ?? by.set(seed, []).get(seed)!).push({ dir, width });
  }
  const out: SeedAlignment[] = [];
  for (const [seed, ts] of [...by].sort((a, b) => a[0] - b[0])) {
    ts.sort((a, b) => a.width - b.width);
    const ds = ts.map((t) => t.dir), widths = ts.map((t) => t.width);
    const fits = new Set(widths).size >= 2 ? await alignmentAcrossWidths(ds) : [];
    out.push({ seed, dirs: ds, widths, fits, weighted: await weightedAlignment(ds, fits) });
  }
  return out;
}

/** A fitted exponent at one step, summarised over seeds. */
export interface ExponentInterval {
  step: number;
  role: string;
  exponent: string;
  mean: number;
  lo: number;
  hi: number;
  seeds: number;
}

/**
 * Per (step, role, exponent): the mean across seeds of the across-width
 * exponent and its 95% interval.
 */
export function exponentIntervals(seeds: SeedAlignment[]): ExponentInterval[] {
  const acc = new Map<string, { step: number; role: string; exponent: string; v: number[] }>();
  for (const s of seeds) {
    for (const f of s.fits) {
      const k = `${f.step}|${f.role}|${f.exponent}`;
      const a = acc.get(k) ??
        acc.set(k, { step: f.step, role: f.role, exponent: f.exponent, v: [] }).get(k)!;
      a.v.push(f.value);
    }
  }
  return [...acc.values()].map(({ v, ...key }) => {
    const ci = meanInterval(v);
    return { ...key, mean: ci.mean, lo: ci.lo, hi: ci.hi, seeds: ci.n };
  }).sort((a, b) => a.step - b.step || a.role.localeCompare(b.role) || a.exponent.localeCompare(b.exponent));
}

/** A loss-weighted average, summarised over seeds. */
export interface WeightedInterval {
  method: WeightedExponent["method"];
  width: number | null;
  role: string;
  quantity: WeightedExponent["quantity"];
  mean: number;
  lo: number;
  hi: number;
  seeds: number;
}

/** Per (method, width, role, quantity): the mean across seeds of the weighted average and its 95% interval. */
export function weightedIntervals(seeds: SeedAlignment[]): WeightedInterval[] {
  const acc = new Map<string, { key: Omit<WeightedInterval, "mean" | "lo" | "hi" | "seeds">; v: number[] }>();
  for (const s of seeds) {
    for (const w of s.weighted) {
      const k = `${w.method}|${w.width}|${w.role}|${w.quantity}`;
      const a = acc.get(k) ??
        acc.set(k, { key: { method: w.method, width: w.width, role: w.role, quantity: w.quantity }, v: [] })
          .get(k)!;
      a.v.push(w.value);
    }
  }
  return [...acc.values()].map(({ key, v }) => {
    const ci = meanInterval(v);
    return { ...key, mean: ci.mean, lo: ci.lo, hi: ci.hi, seeds: ci.n };
  });
}
