/** Pieces shared by every parameterization: base-shape options, multipliers, rescaler rules. */
import { z } from "zod";
import { DmodelError } from "../core/errors.ts";
import type { ModelRule, ModelShape, ParamDecl, ParamRule, ScaleContext } from "../core/contracts.ts";

/** Options every parameterization accepts: the base shape that multipliers are relative to. */
export const baseShapeOptions = {
  /** d_base; defaults to the model's own width (m_width = 1). */
  base_width: z.number().int().positive().optional(),
  /** L_base; defaults to the model's own depth. */
  base_depth: z.number().int().positive().optional(),
  /** steps_base; defaults to the run's own steps. */
  base_steps: z.number().int().positive().optional(),
};

/**
 * The base-shape options a rule cannot do without, as required fields with
 * a message saying why: a missing base shape would silently mean m = 1.
 */
export function requiredBase<K extends "base_width" | "base_depth" | "base_steps">(
  rule: string,
  keys: K[],
): Record<K, z.ZodNumber> {
  const what = { base_width: "width", base_depth: "depth", base_steps: "number of steps" };
  const out = {} as Record<K, z.ZodNumber>;
  for (const k of keys) {
    out[k] = z.number({ error: `${rule} needs ${k}: the ${what[k]} its learning rates were tuned at` }).int()
      .positive();
  }
  return out;
}

/** Builds the scale context: m_width = d / d_base, m_depth = L / L_base, m_data = steps / steps_base. */
export function scaleContext(
  block: string,
  shape: ModelShape,
  steps: number,
  base: { base_width?: number; base_depth?: number; base_steps?: number },
): ScaleContext {
  const b = {
    width: base.base_width ?? shape.width,
    depth: base.base_depth ?? shape.depth,
    steps: base.base_steps ?? steps,
  };
  return {
    block,
    shape,
    base: b,
    steps,
    m_width: shape.width / b.width,
    m_depth: shape.depth / b.depth,
    m_data: steps / b.steps,
  };
}

/**
 * A rescaler under the init/scale trick: the stored value starts at `scale`,
 * the forward pass uses s * init/scale, so Adam moves the effective value at
 * rate lr * init/scale.
 */
export function rescalerParamRule(decl: ParamDecl, model: ModelRule, lrMultiplier: number): ParamRule {
  const r = decl.rescaler ? model.rescalers[decl.rescaler] : undefined;
  if (!r) {
    throw new DmodelError(
      `parameter ${decl.name}: the rule gives no init/scale for rescaler ${decl.rescaler}`,
    );
  }
  return {
    init: { dist: "constant", value: r.scale },
    forward_multiplier: r.init / r.scale,
    lr_multiplier: lrMultiplier,
    eps_multiplier: 1,
    weight_decay: 0,
  };
}
