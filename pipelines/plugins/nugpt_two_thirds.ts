/**
 * An example user plugin: nuGPT with hidden-matrix LR exponent 2/3 instead of
 * 3/4 (eta_hidden = eta_base * m_width^(-2/3)). A pipeline loads it with
 * `plugins: [./plugins/nugpt_two_thirds.ts]` and names it like a built-in:
 * `parameterization: {name: nugpt-2/3, base_width: ..., base_depth: ..., base_steps: ...}`.
 */
import { z } from "zod";
import { register } from "../../engine/core/registry.ts";
import { nugpt, NugptSchema } from "../../components/parameterization/nugpt.ts";

// nuGPT's options with a new default for the one exponent this rule changes;
// safeExtend keeps nuGPT's own checks (e.g. base_steps for the horizon factor).
const schema = NugptSchema.safeExtend({ hidden_exponent: z.number().default(2 / 3) });

register("parameterization", "nugpt-2/3", {
  describe: "example plugin: nuGPT with hidden LR m_width^(-2/3)",
  schema,
  // Everything else (input and output LRs, rescalers, horizon factor) is nuGPT's rule as is.
  create: (o) => nugpt(o),
});
