/**
 * The `alignment` probe: alpha, omega, nu (docs/reference.md section 3) of every
 * matrix, grouped by role (its tag: query, key, value, attn_out, mlp_in,
 * mlp_gate, mlp_out, ...; the readout). Inputs h come from the block's
 * activation sink (`<param>.in`) on the first `sequences` sequences of the
 * fixed probe batch (the first val batch), measured every `every` steps.
 *
 * `reference: init` (the default) is the nuGPT paper's Def. 3.1: the deltas
 * are changes from initialization, dW = W(t) - W(0) and dh = h(t) - h(0),
 * and W, h in the three formulas are W(0), h(0). The state at step 0 is kept
 * in `probes/alignment.init.safetensors` so that a resumed trial measures
 * against the same reference. `reference: previous` measures the change since
 * the previous measurement instead.
 *
 * Columns: `probe_loss` (the loss on those sequences), then per role r: `ratio_alpha.r`, `ratio_omega.r`, `ratio_nu.r` (the
 * geometric mean over layers of ||dW h|| / sqrt(d_out) / (rms(dW) rms(h)) and
 * its two siblings) and `alpha.r`, `omega.r`, `nu.r`, the single-model
 * estimates log(ratio) / log(d_in). The cross-width exponent is the slope of
 * log(ratio) against log(width) over trials: `alignmentAcrossWidths` in
 * components/probe/alignment.ts. Step 0 has no delta: NaN.
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { alignmentRatio, EXPONENTS, localExponent } from "./alignment.ts";
import { inputSinkName } from "../../engine/core/contracts.ts";
import { DmodelError } from "../../engine/core/errors.ts";
import { exists, writeFileAtomic } from "../../engine/core/fs.ts";
import { encodeSafetensors, readSafetensors, type StoredTensor } from "../../engine/nn/safetensors.ts";
import type { Param } from "../../engine/nn/network.ts";
import type { Probe, ProbeContext } from "../../engine/train/probe.ts";
import { register } from "../../engine/core/registry.ts";
import { capture } from "./capture.ts";

const schema = z.object({
  every: z.number().int().positive().default(10),
  /** Sequences of the probe batch to use (tokens = sequences x T). */
  sequences: z.number().int().positive().default(4),
  /**
   * What the deltas are taken against: `init` (the nuGPT paper's Def. 3.1:
   * dW = W(t) - W(0), dh = h(t) - h(0), with W(0), h(0) in the formulas) or
   * `previous` (the change since the previous measurement).
   */
  reference: z.enum(["init", "previous"]).default("init"),
}).strict();

/** The role key of a matrix: its tag, else its role. */
export function matrixRole(p: Param): string {
  return p.decl.tag ?? p.decl.role;
}

interface State {
  w: Float32Array;
  h: Float32Array;
}

/** Where a trial keeps the probe's reference state (W(0), h(0)). */
export function initStatePath(dir: string): string {
  return `${dir}/probes/alignment.init.safetensors`;
}

async function saveState(path: string, state: Map<string, State>): Promise<void> {
  const tensors: Record<string, StoredTensor> = {};
  for (const [name, st] of state) {
    tensors[`${name}.W`] = { dtype: "F32", shape: [st.w.length], data: st.w };
    tensors[`${name}.h`] = { dtype: "F32", shape: [st.h.length], data: st.h };
  }
  await writeFileAtomic(path, encodeSafetensors(tensors, { probe: "alignment", reference: "init" }));
}

async function loadState(path: string): Promise<Map<string, State> | null> {
  if (!(await exists(path))) return null;
  const { tensors } = await readSafetensors(path);
  const out = new Map<string, State>();
  for (const [key, t] of Object.entries(tensors)) {
    if (!key.endsWith(".W")) continue;
    const name = key.slice(0, -2);
    const h = tensors[`${name}.h`];
    if (h) out.set(name, { w: t.data as Float32Array, h: h.data as Float32Array });
  }
  return out;
}

/** RMS of X M^T (X: n x din, M: dout x din) on the device. */
function productRms(m: Float32Array, dout: number, din: number, x: Float32Array, n: number): number {
  return tf.tidy(() => {
    const y = tf.matMul(tf.tensor2d(x, [n, din]), tf.tensor2d(m, [dout, din]), false, true);
    return Math.sqrt(tf.sum(tf.square(y)).dataSync()[0] / (n * dout));
  });
}

function rmsOf(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / x.length);
}

function diff(a: Float32Array, b: Float32Array): Float32Array {
  const d = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  return d;
}

/**
 * alpha, omega, nu ratios of one matrix (d_out x d_in) between two
 * measurements: old and new weights, old and new inputs (n x d_in rows).
 */
export function matrixRatios(
  wOld: Float32Array,
  wNew: Float32Array,
  hOld: Float32Array,
  hNew: Float32Array,
  dout: number,
  din: number,
): Record<"alpha" | "omega" | "nu", number> {
  const n = hOld.length / din;
  const dw = diff(wNew, wOld), dh = diff(hNew, hOld);
  const rdw = rmsOf(dw), rh = rmsOf(hOld), rw = rmsOf(wOld), rdh = rmsOf(dh);
  return {
    alpha: alignmentRatio(productRms(dw, dout, din, hOld, n), rdw, rh),
    omega: alignmentRatio(productRms(wOld, dout, din, dh, n), rw, rdh),
    nu: alignmentRatio(productRms(dw, dout, din, dh, n), rdw, rdh),
  };
}

/** Mean next-token cross-entropy of the network on the first `sequences` rows of the probe batch. */
function probeLoss(ctx: ProbeContext, sequences: number): number {
  const b = Math.max(1, Math.min(ctx.B, sequences)), n = b * ctx.T;
  return tf.tidy(() =>
    ctx.net.loss(
      tf.tensor2d(ctx.x.subarray(0, n), [b, ctx.T], "int32"),
      tf.tensor2d(ctx.y.subarray(0, n), [b, ctx.T], "int32"),
    ).dataSync()[0]
  );
}

/** The alignment probe. */
export function alignmentProbe(o: z.infer<typeof schema>): Probe {
  let prev: Map<string, State> | null = null;
  return {
    every: o.every,
    async measure(ctx: ProbeContext) {
      if (!prev && o.reference === "init" && ctx.step > 0) {
        // A resumed trial: the reference is the state saved at step 0.
        prev = await loadState(initStatePath(ctx.dir));
        if (!prev) {
          throw new DmodelError(
            `probe alignment: ${initStatePath(ctx.dir)} is missing, so the deltas from initialization ` +
              `cannot be measured from step ${ctx.step} (run the trial again with --fresh)`,
          );
        }
      }
      const mats = ctx.net.params.filter((p) =>
        (p.decl.role === "hidden" || p.decl.role === "readout") && p.decl.shape.length === 2
      );
      const wanted = new Map(mats.map((p) => [inputSinkName(p.decl.name), p]));
      const acts = capture(ctx.net, ctx.x, ctx.B, ctx.T, o.sequences, (n) => wanted.has(n));
      const present = mats.filter((p) => acts.has(inputSinkName(p.decl.name)));
      if (!present.length) {
        throw new DmodelError(
          `probe alignment: block ${ctx.trial.model.block} reports no matrix inputs to the sink (expected names like ${
            inputSinkName(mats[0]?.decl.name ?? "blocks.0.W_q")
          })`,
        );
      }
      const roles = [...new Set(present.map(matrixRole))];
      const logs = new Map<string, number[]>(), dins = new Map<string, number>();
      const cur = new Map<string, State>();
      for (const p of present) {
        const m = p.rule.forward_multiplier;
        const w = m === 1 ? Float32Array.from(p.host) : p.host.map((v) => v * m);
        const h = acts.get(inputSinkName(p.decl.name))!.data;
        cur.set(p.decl.name, { w, h });
        const old = prev?.get(p.decl.name);
        if (!old || old.h.length !== h.length) continue;
        const [dout, din] = p.decl.shape;
        const ratios = matrixRatios(old.w, w, old.h, h, dout, din);
        dins.set(matrixRole(p), din);
        for (const e of EXPONENTS) {
          const key = `${e}.${matrixRole(p)}`;
          if (ratios[e] > 0) (logs.get(key) ?? logs.set(key, []).get(key)!).push(Math.log(ratios[e]));
        }
      }
      if (o.reference === "previous" || !prev) {
        prev = cur;
        if (o.reference === "init") await saveState(initStatePath(ctx.dir), cur);
      }
      // The loss on the same sequences: the weights of the loss-decrease-weighted average.
      const out: Record<string, number> = { probe_loss: probeLoss(ctx, o.sequences) };
      for (const r of roles) {
        const din = dins.get(r) ?? NaN;
        for (const e of EXPONENTS) {
          const l = logs.get(`${e}.${r}`);
          const ratio = l?.length ? Math.exp(l.reduce((a, b) => a + b) / l.length) : NaN;
          out[`ratio_${e}.${r}`] = ratio;
          out[`${e}.${r}`] = localExponent(ratio, din);
        }
      }
      return out;
    },
    dispose() {
      prev = null;
    },
  };
}

register("probe", "alignment", {
  describe:
    "alignment exponents alpha/omega/nu per matrix role, deltas from init (or the previous measurement)",
  schema,
  create: (o: z.infer<typeof schema>) => alignmentProbe(o),
});
