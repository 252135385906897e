/**
 * What a parameterization does to a model, without training: per parameter
 * its role, shape, init, forward multiplier and effective step-0 learning
 * rate (peak LR x horizon factor x multiplier), Adam eps and weight decay;
 * per model the attention scale, residual multiplier, rescalers, logit
 * multiplier and renormalization.
 */
import type { TrialConfig } from "../core/config.ts";
import { prepareData } from "../data/prepare.ts";
import type { Init, ModelRule } from "../core/contracts.ts";
import { resolveModel } from "./resolve.ts";
import { build } from "../core/registry.ts";
import type {} from "./optim.ts"; // declares the optimizer product of build()

/** One parameter's row in `describe`. */
export interface ParamRow {
  /** Parameter name, as the block declares it. */
  name: string;
  /** What the parameter is for (embedding, hidden, readout, rescaler, gain, bias). */
  role: string;
  /** Stored shape, (out, in) for matrices. */
  shape: number[];
  /** How the parameter starts, as the rule says. */
  init: Init;
  /** W_eff = forward_multiplier x W_stored in the forward pass. */
  forward_multiplier: number;
  /** Effective LR at step 0, before the schedule: optimizer.lr x lr_factor x lr_multiplier. */
  lr: number;
  /** Effective epsilon (Adam: optimizer eps x eps_multiplier). */
  eps: number;
  /** Effective decoupled weight decay: the optimizer's decay x the rule's multiplier. */
  weight_decay: number;
}

/** The whole description. */
export interface Description {
  /**
   * The model: block, parameterization, shape, base shape, multipliers (m_width, m_depth, m_data),
   * global LR, LR factor, parameter count and the rule's model-wide values.
   */
  model: Record<string, unknown> & ModelRule & {
    parameterization: string;
    base_steps: number;
    m_data: number;
    global_lr: number;
    lr_factor: number;
  };
  /** One row per parameter, in the block's declaration order. */
  params: ParamRow[];
}

/** The vocabulary size a data config implies, building the data only when it must. */
export async function vocabSizeOf(data: TrialConfig["data"]): Promise<number> {
  const tok = data.tokenizer as { name: string; vocab_size?: number };
  if (!data.corpus.endsWith(".bin")) {
    if (tok.name === "byte") return 256;
    if (typeof tok.vocab_size === "number") return tok.vocab_size;
  }
  return (await prepareData(data)).vocabSize;
}

/** Resolves block and rule of a trial and describes every parameter. */
export function describeTrial(t: TrialConfig, vocabSize: number): Description {
  const { block, rule, ctx } = resolveModel(t, vocabSize);
  const shape = ctx.shape;
  const model = rule.model(ctx);
  const lrFactor = rule.lr_factor(ctx);
  const optimizer = build("optimizer", t.optimizer, ["optimizer"]);
  const params = block.params(shape).map((decl) => {
    const r = rule.param(decl, ctx, model);
    return {
      name: decl.name,
      role: decl.role,
      shape: decl.shape,
      init: r.init,
      forward_multiplier: r.forward_multiplier,
      ...optimizer.paramHyper(r, lrFactor, optimizer.lr),
    };
  });
  return {
    model: {
      block: t.model.block,
      parameterization: t.parameterization.name,
      ...shape,
      base_width: ctx.base.width,
      base_depth: ctx.base.depth,
      base_steps: ctx.base.steps,
      m_width: ctx.m_width,
      m_depth: ctx.m_depth,
      m_data: ctx.m_data,
      global_lr: optimizer.lr,
      lr_factor: lrFactor,
      n_params: params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0),
      ...model,
    },
    params,
  };
}

function initText(i: Init): string {
  switch (i.dist) {
    case "normal":
      return `normal(${+i.std.toPrecision(3)})`;
    case "constant":
      return `const(${+i.value.toPrecision(3)})`;
    case "orthogonal":
      return `orthogonal(${+i.gain.toPrecision(3)})`;
    default:
      return i.dist;
  }
}

/** The description as an aligned text table (model values first). */
export function describeText(d: Description): string {
  const lines = Object.entries(d.model).map(([k, v]) =>
    `${k.padEnd(20)} ${
      typeof v === "object" ? JSON.stringify(v) : typeof v === "number" ? +v.toPrecision(6) : v
    }`
  );
  const head = ["name", "role", "shape", "init", "fwd_mult", "lr", "eps", "wd"];
  const cells = d.params.map((r) => [
    r.name,
    r.role,
    `[${r.shape.join(",")}]`,
    initText(r.init),
    String(+r.forward_multiplier.toPrecision(4)),
    r.lr.toExponential(3),
    r.eps.toExponential(1),
    String(+r.weight_decay.toPrecision(3)),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const table = [head, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i])).join("  ").trimEnd());
  return [...lines, "", ...table].join("\n");
}

/**
 * A notice when the rule scales the global learning rate by itself (nuGPT's
 * m_data^(-1/3) token-horizon correction when train.steps differs from
 * base_steps), or null: the LR actually used is not the one in the file.
 */
export function lrFactorNotice(d: Description): string | null {
  const m = d.model;
  if (Math.abs(m.lr_factor - 1) < 1e-12) return null;
  const steps = `train.steps ${
    Math.round(m.base_steps * m.m_data)
  } vs base_steps ${m.base_steps}, m_data = ${+m.m_data
    .toPrecision(4)}`;
  return `notice: parameterization ${m.parameterization} multiplies the learning rate by ${+m.lr_factor
    .toPrecision(3)} ` +
    `(its token-horizon correction, ${steps}): optimizer.lr ${+m.global_lr.toPrecision(4)} -> ` +
    `${+(m.global_lr * m.lr_factor).toPrecision(4)} at the peak of the schedule`;
}
