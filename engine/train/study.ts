/**
 * Studies: a base trial and a list of labelled variants (dotted-path
 * overrides), each run as its own trial into `<out>/<trial dir>/` with
 * `runTrial`, resumable (a trial is done iff its result.json exists), and
 * `<out>/<stage id>.runs.json` names each variant's directory. The
 * collapse, skipless and alignment stages are built on this; they do not
 * need the sweep executor.
 */
import { fromCSV } from "../core/csv.ts";
import { z } from "zod";
import { checkTrial, issueUnder, setPath, type TrialConfig, trialDirName, trialId } from "../core/config.ts";
import { type Issue, zodIssue } from "../core/errors.ts";
import type { StageContext } from "../core/stage.ts";
import { runTrial } from "./trainer.ts";
import type { TrialResult } from "./result.ts";
import { writeFileAtomic } from "../core/fs.ts";

/** One variant: a label, dotted-path overrides of the base trial, and an optional step multiplier. */
export interface StudyVariant {
  label: string;
  set: Record<string, unknown>;
  /** train.steps = round(base train.steps x this), applied after `set`. */
  steps_factor?: number;
}

/** Applies a variant's overrides to a copy of the raw base trial. */
export function variantConfig(base: unknown, v: StudyVariant): unknown {
  const raw = structuredClone(base) as Record<string, unknown>;
  for (const [k, val] of Object.entries(v.set)) setPath(raw, k.split("."), structuredClone(val));
  if (v.steps_factor !== undefined) {
    const steps = Number((base as { train?: { steps?: unknown } }).train?.steps);
    setPath(raw, ["train", "steps"], Math.max(1, Math.round(steps * v.steps_factor)));
  }
  return raw;
}

/** The `with:` fields every study stage has: `base` (a raw trial) and labelled `variants`. */
export const StudyOptions = z.object({
  base: z.record(z.string(), z.unknown()),
  variants: z.array(
    z.object({
      label: z.string().min(1),
      set: z.record(z.string(), z.unknown()).default({}),
      steps_factor: z.number().positive().optional(),
    }).strict(),
  ).min(1),
});

/**
 * Transform for a study stage's schema: merges and validates each variant as
 * a whole trial (problems keep their key path variants.<i>.<trial key path>)
 * and adds the resolved `trials`.
 *
 * @example
 * ```ts
 * const schema = StudyOptions.extend({ every: z.number() }).strict().transform(resolveStudy);
 * ```
 */
export function resolveStudy<O extends z.infer<typeof StudyOptions>>(
  o: O,
  ctx: z.RefinementCtx,
): O & { trials: TrialConfig[] } {
  const trials: TrialConfig[] = [];
  const perVariant = o.variants.map((v) => {
    const r = checkTrial(variantConfig(o.base, v));
    if (r.trial) trials.push(r.trial);
    return r.issues;
  });
  for (const i of variantIssues(o.variants, perVariant)) ctx.addIssue(zodIssue(i));
  const labels = o.variants.map((v) => v.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup) {
    ctx.addIssue({
      code: "custom",
      message: `duplicate variant label ${JSON.stringify(dup)}`,
      path: ["variants"],
    });
  }
  return { ...o, trials };
}

/**
 * Where each problem of the variants' trials is written: at the variant's
 * `set` key (or `steps_factor`) that causes it, labelled; otherwise in the
 * base, once however many variants share it.
 */
export function variantIssues(
  variants: { label: string; set: Record<string, unknown>; steps_factor?: number }[],
  perVariant: Issue[][],
): Issue[] {
  const out = new Map<string, Issue>();
  perVariant.forEach((issues, vi) => {
    const v = variants[vi];
    for (const i of issues) {
      const key = Object.keys(v.set).find((k) => issueUnder(i, k.split(".")));
      const steps = v.steps_factor !== undefined && issueUnder(i, ["train", "steps"]);
      const at: Issue = key !== undefined || steps
        ? {
          ...i,
          path: ["variants", vi, ...(key !== undefined ? ["set", key] : ["steps_factor"])],
          message: `${v.label}: ${i.message}`,
          ...(i.keys ? { keys: [] } : {}),
        }
        : { ...i, path: ["base", ...i.path] };
      out.set(JSON.stringify([at.path, at.message, at.value]), at);
    }
  });
  return [...out.values()];
}

/** One finished variant. */
export interface StudyRun {
  label: string;
  trial: TrialConfig;
  dir: string;
  result: TrialResult;
}

/** The trials with `probe` (by name) replacing any probe of that name they had; `every` may depend on the trial. */
export function withProbe(
  trials: TrialConfig[],
  probe: { name: string; every: number | ((t: TrialConfig) => number); sequences: number },
): TrialConfig[] {
  return trials.map((t) => ({
    ...t,
    probes: [
      ...t.probes.filter((p) => p.name !== probe.name),
      { ...probe, every: typeof probe.every === "function" ? probe.every(t) : probe.every },
    ],
  }));
}

/** Runs every variant's trial in order (honours --fresh and --resume). */
export async function runStudy(
  ctx: StageContext,
  variants: StudyVariant[],
  trials: TrialConfig[],
): Promise<StudyRun[]> {
  const out: StudyRun[] = [];
  for (const [i, t] of trials.entries()) {
    const dir = `${ctx.outDir}/${trialDirName(t, trialId(t))}`;
    if (ctx.flags.fresh) await Deno.remove(dir, { recursive: true }).catch(() => {});
    const t0 = performance.now();
    const result = await runTrial(t, dir, { resume: Boolean(ctx.flags.resume), log: () => {} });
    ctx.log(
      `${variants[i].label}: ${result.status}${
        result.error ? ` (${result.error})` : ""
      }; ${result.steps_done} steps, ` +
        `val loss ${result.step0_val_loss?.toFixed(4)} -> ${result.final_val_loss?.toFixed(4)}, ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s (${dir})`,
    );
    out.push({ label: variants[i].label, trial: t, dir, result });
  }
  // which trial directory holds which variant (for scripts reading the study later)
  await writeFileAtomic(
    `${ctx.outDir}/${ctx.stageId}.runs.json`,
    JSON.stringify(
      out.map((r) => ({ label: r.label, dir: r.dir.slice(ctx.outDir.length + 1), status: r.result.status })),
      null,
      1,
    ) + "\n",
  );
  return out;
}

/** Reads a trial's metrics.csv as numeric records (empty cells are NaN). */
export async function readMetrics(dir: string): Promise<Record<string, number>[]> {
  const { columns, rows } = fromCSV(await Deno.readTextFile(`${dir}/metrics.csv`));
  return rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] === null ? NaN : Number(r[c])])));
}
