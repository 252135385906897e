/** From a trial config to its block, scaling rule and scale context, via the registry. */
import { blocksFor, type TrialConfig } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";
import type { Block, ModelShape, Parameterization, ScaleContext } from "../core/contracts.ts";
import { build } from "../core/registry.ts";
import { scaleContext } from "./scaling.ts";
import { Network } from "./network.ts";

/** Model shape from a trial and its data's vocabulary. */
export function modelShape(t: TrialConfig, vocabSize: number): ModelShape {
  return {
    width: t.model.width,
    depth: t.model.depth,
    head_dim: t.model.head_dim,
    heads: t.model.width / t.model.head_dim,
    vocab_size: vocabSize,
    seq_len: t.data.seq_len,
  };
}

/** The block and rule a trial names; a rule that does not apply to the block is refused. */
export function resolveModel(t: TrialConfig, vocabSize: number): {
  block: Block;
  rule: Parameterization;
  ctx: ScaleContext;
} {
  const { block: blockName, width: _w, depth: _d, head_dim: _h, ...blockOpts } = t.model;
  const block = build("block", { name: blockName, ...blockOpts }, ["model"]);
  const { name: pName, ...pOpts } = t.parameterization;
  const rule = build("parameterization", t.parameterization, ["parameterization"]);
  if (!rule.families.includes(block.family)) {
    throw new DmodelError(
      `parameterization ${JSON.stringify(pName)} does not apply to block ${JSON.stringify(blockName)} ` +
        `(it is written for: ${blocksFor(rule).join(", ")})`,
    );
  }
  const ctx = scaleContext(
    blockName,
    modelShape(t, vocabSize),
    t.train.steps,
    pOpts as Record<string, number>,
  );
  return { block, rule, ctx };
}

/** Builds the network of a trial from the registry (no data needed beyond the vocab size). */
export function buildNetwork(t: TrialConfig, vocabSize: number): Network {
  const { block, rule, ctx } = resolveModel(t, vocabSize);
  return new Network(block, rule, ctx, t.train.seed);
}
