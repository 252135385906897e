/**
 * The `rescalers` probe for nGPT-family blocks: mean and std of the
 * effective rescalers per layer (effective = stored value x forward
 * multiplier, the init/scale trick; |alpha| for the eigen learning rates,
 * as the forward pass uses them). Columns `L<i>.alpha_A.mean`,
 * `L<i>.alpha_A.std`, likewise alpha_M and s_qk, the same over all layers
 * (`alpha_A.mean`, ...), and `s_z.mean`, `s_z.std`.
 */
import { z } from "zod";
import { DmodelError } from "../../engine/core/errors.ts";
import type { RescalerName } from "../../engine/core/contracts.ts";
import type { Probe, ProbeContext } from "../../engine/train/probe.ts";
import { register } from "../../engine/core/registry.ts";

const schema = z.object({ every: z.number().int().positive().default(10) }).strict();

const PER_LAYER: RescalerName[] = ["alpha_A", "alpha_M", "s_qk"];

/** Mean and (population) std. */
export function meanStd(v: ArrayLike<number>): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const mean = s / v.length;
  for (let i = 0; i < v.length; i++) s2 += (v[i] - mean) ** 2;
  return { mean, std: Math.sqrt(s2 / v.length) };
}

/** The rescalers probe. */
export function rescalersProbe(o: z.infer<typeof schema>): Probe {
  return {
    every: o.every,
    measure(ctx: ProbeContext) {
      const out: Record<string, number> = {};
      const all = new Map<RescalerName, number[]>();
      let found = 0;
      for (const p of ctx.net.params) {
        const r = p.decl.rescaler;
        if (p.decl.role !== "rescaler" || !r) continue;
        const m = p.rule.forward_multiplier;
        const abs = r === "alpha_A" || r === "alpha_M";
        const eff = Array.from(p.host, (v) => (abs ? Math.abs(v * m) : v * m));
        const layer = /^blocks\.(\d+)\./.exec(p.decl.name)?.[1];
        if (r === "s_z") {
          const s = meanStd(eff);
          out["s_z.mean"] = s.mean, out["s_z.std"] = s.std;
          found++;
        } else if (PER_LAYER.includes(r) && layer !== undefined) {
          const s = meanStd(eff);
          out[`L${layer}.${r}.mean`] = s.mean, out[`L${layer}.${r}.std`] = s.std;
          (all.get(r) ?? all.set(r, []).get(r)!).push(...eff);
          found++;
        }
      }
      if (!found) {
        throw new DmodelError(
          `probe rescalers: block ${ctx.trial.model.block} has no nGPT rescalers (alpha_A, alpha_M, s_qk, s_z)`,
        );
      }
      for (const [r, v] of all) {
        const s = meanStd(v);
        out[`${r}.mean`] = s.mean, out[`${r}.std`] = s.std;
      }
      return out;
    },
  };
}

register("probe", "rescalers", {
  describe: "mean/std of effective nGPT rescalers (|alpha_A|, |alpha_M|, s_qk per layer; s_z)",
  schema,
  create: (o: z.infer<typeof schema>) => rescalersProbe(o),
});
