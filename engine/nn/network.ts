/**
 * A model instance: a block's parameters as tf.Variables, the rule that the
 * parameterization gave each of them, and the loss. Host-side Float32Array
 * copies are the master weights that the optimizer updates.
 */
import * as tf from "@tensorflow/tfjs";
import { DmodelError } from "../core/errors.ts";
import { initialValues } from "./init.ts";
import type {
  ActivationSink,
  Block,
  ModelRule,
  ModelShape,
  ParamDecl,
  Parameterization,
  ParamRule,
  ScaleContext,
} from "../core/contracts.ts";
import { crossEntropy } from "./ops.ts";

/** One parameter with its declaration, rule, variable and host copy. */
export interface Param {
  /** The block's declaration of the parameter. */
  decl: ParamDecl;
  /** What the parameterization says about it: init, multipliers, weight decay. */
  rule: ParamRule;
  /** The stored values on the backend, as a trainable tf.Variable (refreshed from `host` by `pushHost`). */
  variable: tf.Variable;
  /** Host copy of the stored values: the master weights the optimizer updates. */
  host: Float32Array;
  /** The last gradient read back by `lossAndGrads` (engine/train/loop.ts), reused every step. */
  grad: Float32Array;
}

/** A block + parameterization, instantiated at one shape. */
export class Network {
  /** Every parameter, in the block's declaration order. */
  readonly params: Param[];
  /** The parameters by name. */
  readonly byName: Map<string, Param>;
  /** What the parameterization says about the whole model at this shape. */
  readonly model: ModelRule;
  /** Global LR factor from the token horizon (per run). */
  readonly lrFactor: number;

  /** Builds `block`'s parameters at `ctx.shape`, initialized by `parameterization`'s rule from `seed`. */
  constructor(
    readonly block: Block,
    readonly parameterization: Parameterization,
    readonly ctx: ScaleContext,
    seed: number,
  ) {
    this.model = parameterization.model(ctx);
    this.lrFactor = parameterization.lr_factor(ctx);
    this.params = block.params(ctx.shape).map((decl) => {
      const rule = parameterization.param(decl, ctx, this.model);
      const host = initialValues(decl.name, decl.shape, rule.init, seed, decl.embed_axis);
      const variable = tf.variable(
        tf.tensor(host, decl.shape),
        true,
        `${decl.name}_${seed}_${Math.random()}`,
      );
      return { decl, rule, variable, host, grad: new Float32Array(host.length) };
    });
    this.byName = new Map(this.params.map((p) => [p.decl.name, p]));
  }

  /** The shape this network was built at. */
  get shape(): ModelShape {
    return this.ctx.shape;
  }

  /** Number of scalar parameters. */
  get size(): number {
    return this.params.reduce((a, p) => a + p.host.length, 0);
  }

  /** Effective parameters: stored values times their forward multiplier. */
  effective(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const p of this.params) {
      const m = p.rule.forward_multiplier;
      out[p.decl.name] = m === 1 ? p.variable : tf.mul(p.variable, m);
    }
    return out;
  }

  /** Logits [B*T, V] for tokens [B, T]. */
  logits(tokens: tf.Tensor2D, sink?: ActivationSink): tf.Tensor2D {
    return this.block.logits(this.effective(), tokens, this.shape, this.model, sink);
  }

  /** Mean next-token cross-entropy (nats) of int32 inputs x and targets y, each [B, T]. */
  loss(x: tf.Tensor2D, y: tf.Tensor2D, sink?: ActivationSink): tf.Scalar {
    const logits = this.logits(x, sink);
    return crossEntropy(logits, y.reshape([-1]) as tf.Tensor1D);
  }

  /** Copies host values into the variables (after an update or a load). */
  pushHost(names?: Iterable<string>): void {
    const list = names ? [...names].map((n) => this.byName.get(n)!) : this.params;
    for (const p of list) tf.tidy(() => p.variable.assign(tf.tensor(p.host, p.decl.shape)));
  }

  /** Replaces parameter values by name; shapes must match. */
  load(values: Record<string, { shape: number[]; data: Float32Array }>, source: string): void {
    for (const p of this.params) {
      const v = values[p.decl.name];
      if (!v) throw new DmodelError(`${source}: missing parameter ${p.decl.name}`);
      if (v.shape.join("x") !== p.decl.shape.join("x")) {
        throw new DmodelError(
          `${source}: parameter ${p.decl.name} has shape [${v.shape}], the model needs [${p.decl.shape}]`,
        );
      }
      p.host.set(v.data);
    }
    this.pushHost();
  }

  /** Frees the variables. */
  dispose(): void {
    for (const p of this.params) p.variable.dispose();
  }
}
