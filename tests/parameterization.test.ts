/**
 * Parameterizations against their formulas (docs/reference.md sections 1, 2, 4):
 * `describeTrial` at several widths and depths, every expected value computed
 * here from the equations; and the errors a user meets (rule on the wrong
 * block, width not divisible by head_dim, missing base shape).
 */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { parseTrial, type TrialConfig } from "../engine/core/config.ts";
import { describeTrial, type Description, type ParamRow } from "../engine/nn/describe.ts";
import type { Init } from "../engine/core/contracts.ts";
import { parsePipeline, runPipeline } from "../engine/core/pipeline.ts";
import type { TrainOutput } from "../components/stage/train.ts";
import { errorOf, tinyCorpus } from "./helpers.ts";

const V = 256, HEAD_DIM = 16, BASE_WIDTH = 32, BASE_DEPTH = 2, BASE_STEPS = 100, STEPS = 400;
const ETA = 0.01, EPS = 1e-8, WD = 0.1;
const WIDTHS = [BASE_WIDTH, 2 * BASE_WIDTH, 4 * BASE_WIDTH];
const DEPTHS = [BASE_DEPTH, 2 * BASE_DEPTH];

function trial(
  block: string,
  parameterization: Record<string, unknown>,
  width: number,
  depth: number,
): TrialConfig {
  return parseTrial({
    data: { corpus: "brown", tokenizer: { name: "byte" }, seq_len: 16 },
    model: { block, width, depth, head_dim: HEAD_DIM },
    parameterization,
    optimizer: { name: "adam", lr: ETA, eps: EPS, weight_decay: WD },
    train: { steps: STEPS, batch_size: 4 },
  });
}

/** Relative closeness (the values are products of powers, exact up to rounding). */
function close(actual: number, expected: number, what: string): void {
  const ok = actual === expected ||
    Math.abs(actual - expected) <= 1e-12 * Math.max(Math.abs(expected), 1e-300);
  assert(ok, `${what}: got ${actual}, expected ${expected}`);
}

function sameInit(actual: Init, expected: Init, what: string): void {
  assert.equal(actual.dist, expected.dist, `${what}: init`);
  if (actual.dist === "normal" && expected.dist === "normal") {
    close(actual.std, expected.std, `${what}: init std`);
  }
  if (actual.dist === "constant" && expected.dist === "constant") {
    close(actual.value, expected.value, `${what}: init value`);
  }
}

/** What a rule should give one parameter: init, forward multiplier, LR, eps, decay. */
interface Expected {
  init: Init;
  fwd: number;
  lr: number;
  eps: number;
  wd: number;
}

interface Ctx {
  d: number;
  L: number;
  mW: number;
  mD: number;
  mData: number;
}

/** The last segment of a parameter name: "blocks.1.W_q" -> "W_q". */
const leaf = (r: ParamRow) => r.name.split(".").pop()!;

/** The init/scale trick: stored value starts at `scale`, forward multiplier init / scale. */
function rescaler(init: number, scale: number, lr: number): Expected {
  return { init: { dist: "constant", value: scale }, fwd: init / scale, lr, eps: EPS, wd: 0 };
}

/** SP init: N(0, 1/fan_in) matrices (fan_in = shape[1], stored (out, in)), N(0, 1) embeddings, gains 1. */
function spParam(r: ParamRow): Expected {
  if (r.role === "gain") return { init: { dist: "constant", value: 1 }, fwd: 1, lr: ETA, eps: EPS, wd: 0 };
  const std = r.role === "embedding" ? 1 : 1 / Math.sqrt(r.shape[1]);
  return { init: { dist: "normal", std }, fwd: 1, lr: ETA, eps: EPS, wd: WD };
}

/** muP (Adam): hidden LR eta / m_width, readout zero-init x 1/m_width, query zero-init. */
function mupParam(r: ParamRow, c: Ctx, readout: "multiplier" | "lr" = "multiplier"): Expected {
  const e = spParam(r);
  if (r.role === "hidden") {
    e.lr = ETA / c.mW;
    if (leaf(r) === "W_q") e.init = { dist: "zeros" };
  } else if (r.role === "readout") {
    e.init = { dist: "zeros" };
    if (readout === "multiplier") e.fwd = 1 / c.mW;
    else e.lr = ETA / c.mW;
  }
  return e;
}

/** CompleteP: hidden LR eta m_width^-1 m_depth^(a-1), hidden eps eps m_width^-1 m_depth^-a, embedding eps / m_width. */
function completepParam(r: ParamRow, c: Ctx, a: number): Expected {
  const e = mupParam(r, c);
  if (r.role === "hidden") {
    e.lr = ETA * Math.pow(c.mW, -1) * Math.pow(c.mD, a - 1);
    e.eps = EPS * Math.pow(c.mW, -1) * Math.pow(c.mD, -a);
  } else if (r.role === "embedding") e.eps = EPS / c.mW;
  return e;
}

/** nGPT: one LR, unit-norm matrices, rescalers with scale 1/sqrt(d) (s_u, s_nu: 1). */
function ngptParam(r: ParamRow, c: Ctx): Expected {
  if (r.role !== "rescaler") return { init: { dist: "unit-norm" }, fwd: 1, lr: ETA, eps: EPS, wd: 0 };
  const s = 1 / Math.sqrt(c.d);
  const name = leaf(r);
  if (name === "alpha_A" || name === "alpha_M") return rescaler(0.05, s, ETA);
  if (name === "s_u" || name === "s_nu") return rescaler(1, 1, ETA);
  return rescaler(1, s, ETA); // s_qk, s_z
}

interface NugptOpts {
  horizon: boolean;
  depthExponent: number;
  hidden: number;
}

/** nuGPT: eta_base = eta m_data^-1/3; input ^-1/2, hidden ^-3/4 (x m_depth^-depth_exponent), output 0.5 ^-3/4. */
function nugptParam(r: ParamRow, c: Ctx, o: NugptOpts): Expected {
  const etaBase = ETA * (o.horizon ? Math.pow(c.mData, -1 / 3) : 1);
  const unit = (lr: number): Expected => ({ init: { dist: "unit-norm" }, fwd: 1, lr, eps: EPS, wd: 0 });
  if (r.role === "embedding") return unit(etaBase * Math.pow(c.mW, -1 / 2));
  if (r.role === "hidden") {
    return unit(etaBase * Math.pow(c.mW, -o.hidden) * Math.pow(c.mD, -o.depthExponent));
  }
  if (r.role === "readout") return unit(0.5 * etaBase * Math.pow(c.mW, -3 / 4));
  const name = leaf(r);
  if (name === "alpha_A" || name === "alpha_M") return rescaler(0.05 / c.mD, 0.03, etaBase);
  if (name === "s_qk") return rescaler(1, 0.03, etaBase);
  if (name === "s_z") return rescaler(Math.sqrt(c.mW), 0.03, etaBase);
  return rescaler(1, 1, etaBase); // s_u, s_nu
}

interface Case {
  label: string;
  block: "prenorm" | "ngpt";
  parameterization: Record<string, unknown>;
  /** Base shape the rule measures from (rules without required base default to the model's own). */
  base: { width?: number; depth?: number; steps?: number };
  model: (c: Ctx) => Record<string, unknown>;
  param: (r: ParamRow, c: Ctx) => Expected;
}

const BASE = { base_width: BASE_WIDTH, base_depth: BASE_DEPTH, base_steps: BASE_STEPS };
const full = { width: BASE_WIDTH, depth: BASE_DEPTH, steps: BASE_STEPS };
const plain = {
  attention_scale: 1 / Math.sqrt(HEAD_DIM),
  residual_multiplier: 1,
  logit_multiplier: 1,
  renormalize: false,
};

const CASES: Case[] = [
  {
    label: "sp (no base shape: every multiplier 1)",
    block: "prenorm",
    parameterization: { name: "sp" },
    base: {},
    model: () => ({ ...plain, lr_factor: 1 }),
    param: (r) => spParam(r),
  },
  {
    label: "sp (with a base shape: still constant)",
    block: "prenorm",
    parameterization: { name: "sp", ...BASE },
    base: full,
    model: () => ({ ...plain, lr_factor: 1 }),
    param: (r) => spParam(r),
  },
  {
    label: "mup",
    block: "prenorm",
    parameterization: { name: "mup", base_width: BASE_WIDTH },
    base: { width: BASE_WIDTH },
    model: () => ({ ...plain, attention_scale: 1 / HEAD_DIM, lr_factor: 1 }),
    param: (r, c) => mupParam(r, c),
  },
  {
    label: "mup readout: lr",
    block: "prenorm",
    parameterization: { name: "mup", base_width: BASE_WIDTH, readout: "lr" },
    base: { width: BASE_WIDTH },
    model: () => ({ ...plain, attention_scale: 1 / HEAD_DIM }),
    param: (r, c) => mupParam(r, c, "lr"),
  },
  ...[1, 0.5].map((a): Case => ({
    label: `completep a=${a}`,
    block: "prenorm",
    parameterization: { name: "completep", base_width: BASE_WIDTH, base_depth: BASE_DEPTH, a },
    base: { width: BASE_WIDTH, depth: BASE_DEPTH },
    model: (c) => ({ ...plain, attention_scale: 1 / HEAD_DIM, residual_multiplier: Math.pow(c.mD, -a) }),
    param: (r, c) => completepParam(r, c, a),
  })),
  {
    label: "ngpt",
    block: "ngpt",
    parameterization: { name: "ngpt" },
    base: {},
    model: () => ({
      attention_scale: Math.sqrt(HEAD_DIM),
      residual_multiplier: 1,
      logit_multiplier: 1,
      renormalize: true,
    }),
    param: (r, c) => ngptParam(r, c),
  },
  {
    label: "nugpt",
    block: "ngpt",
    parameterization: { name: "nugpt", ...BASE },
    base: full,
    model: (c) => ({
      attention_scale: Math.sqrt(HEAD_DIM),
      renormalize: true,
      lr_factor: Math.pow(c.mData, -1 / 3),
    }),
    param: (r, c) => nugptParam(r, c, { horizon: true, depthExponent: 0, hidden: 3 / 4 }),
  },
  {
    label: "nugpt, horizon correction off",
    block: "ngpt",
    parameterization: {
      name: "nugpt",
      base_width: BASE_WIDTH,
      base_depth: BASE_DEPTH,
      horizon_correction: false,
    },
    base: { width: BASE_WIDTH, depth: BASE_DEPTH },
    model: () => ({ lr_factor: 1 }),
    param: (r, c) => nugptParam(r, c, { horizon: false, depthExponent: 0, hidden: 3 / 4 }),
  },
  {
    label: "nugpt, depth_exponent 0.5",
    block: "ngpt",
    parameterization: { name: "nugpt", ...BASE, depth_exponent: 0.5 },
    base: full,
    model: () => ({}),
    param: (r, c) => nugptParam(r, c, { horizon: true, depthExponent: 0.5, hidden: 3 / 4 }),
  },
];

function check(c: Case, d: Description, ctx: Ctx, where: string): void {
  close(d.model.m_width as number, ctx.mW, `${where} m_width`);
  close(d.model.m_depth as number, ctx.mD, `${where} m_depth`);
  close(d.model.m_data as number, ctx.mData, `${where} m_data`);
  for (const [k, v] of Object.entries(c.model(ctx))) {
    if (typeof v === "number") close(d.model[k] as number, v, `${where} model.${k}`);
    else assert.equal(d.model[k], v, `${where} model.${k}`);
  }
  const roles = new Set(d.params.map((r) => r.role));
  for (
    const role of c.block === "ngpt"
      ? ["embedding", "hidden", "readout", "rescaler"]
      : ["embedding", "hidden", "readout", "gain"]
  ) {
    assert(roles.has(role), `${where}: no ${role} parameter`);
  }
  for (const r of d.params) {
    const e = c.param(r, ctx), at = `${where} ${r.name}`;
    sameInit(r.init, e.init, at);
    close(r.forward_multiplier, e.fwd, `${at} forward multiplier`);
    close(r.lr, e.lr, `${at} lr`);
    close(r.eps, e.eps, `${at} eps`);
    close(r.weight_decay, e.wd, `${at} weight decay`);
  }
}

for (const c of CASES) {
  Deno.test(`parameterization: ${c.label} matches its formulas at widths ${WIDTHS} and depths ${DEPTHS}`, () => {
    for (const width of WIDTHS) {
      for (const depth of DEPTHS) {
        const ctx: Ctx = {
          d: width,
          L: depth,
          mW: width / (c.base.width ?? width),
          mD: depth / (c.base.depth ?? depth),
          mData: STEPS / (c.base.steps ?? STEPS),
        };
        check(
          c,
          describeTrial(trial(c.block, c.parameterization, width, depth), V),
          ctx,
          `${c.label} d=${width} L=${depth}:`,
        );
      }
    }
  });
}

Deno.test("parameterization: spot values at 4x width, 2x depth, 4x steps (nugpt, mup, completep)", () => {
  // A few numbers written out, so that a wrong formula cannot hide in a wrong helper above.
  const nu = describeTrial(trial("ngpt", { name: "nugpt", ...BASE }, 128, 4), V);
  const byName = (d: Description, n: string) => d.params.find((p) => p.name === n)!;
  const etaBase = ETA * Math.pow(4, -1 / 3);
  close(nu.model.lr_factor as number, Math.pow(4, -1 / 3), "lr_factor = m_data^(-1/3)");
  close(byName(nu, "blocks.0.W_q").lr, etaBase * Math.pow(4, -3 / 4), "nugpt hidden");
  close(byName(nu, "E_in").lr, etaBase * Math.pow(4, -1 / 2), "nugpt input");
  close(byName(nu, "E_out").lr, 0.5 * etaBase * Math.pow(4, -3 / 4), "nugpt output");
  close(byName(nu, "blocks.3.alpha_A").lr, etaBase, "nugpt rescaler");
  close(
    byName(nu, "blocks.3.alpha_A").forward_multiplier,
    (0.05 / 2) / 0.03,
    "alpha init 0.05/m_depth over scale 0.03",
  );
  close(byName(nu, "s_z").forward_multiplier, 2 / 0.03, "s_z init m_width^(1/2) over scale 0.03");
  const mu = describeTrial(trial("prenorm", { name: "mup", base_width: 32 }, 128, 2), V);
  close(byName(mu, "blocks.1.W_oMLP").lr, ETA / 4, "mup hidden");
  close(byName(mu, "E_out").forward_multiplier, 1 / 4, "mup readout multiplier");
  close(mu.model.attention_scale, 1 / 16, "mup attention 1/d_k");
  const cp = describeTrial(
    trial("prenorm", { name: "completep", base_width: 32, base_depth: 2, a: 0.5 }, 128, 8),
    V,
  );
  close(cp.model.residual_multiplier, Math.pow(4, -0.5), "completep residual m_depth^-a");
  close(byName(cp, "blocks.7.W_k").lr, ETA / 4 * Math.pow(4, -0.5), "completep hidden lr");
  close(byName(cp, "blocks.7.W_k").eps, EPS / 4 * Math.pow(4, -0.5), "completep hidden eps");
  const ng = describeTrial(trial("ngpt", { name: "ngpt" }, 64, 2), V);
  close(
    byName(ng, "blocks.0.s_qk").forward_multiplier,
    Math.sqrt(64),
    "ngpt s_qk: init 1 over scale 1/sqrt(d)",
  );
});

Deno.test("parameterization: a rule on a block it was not written for is refused by name", () => {
  // Refused when the trial is validated, before any data is built.
  assert.equal(
    errorOf(() => trial("prenorm", { name: "nugpt", ...BASE }, 64, 2)),
    'trial: parameterization.name: parameterization "nugpt" does not apply to block "prenorm" ' +
      '(it is written for: ngpt) (value: "nugpt")',
  );
  const sp = errorOf(() => trial("ngpt", { name: "sp" }, 64, 2));
  assert.match(sp, /parameterization "sp" does not apply to block "ngpt" \(it is written for: [a-z, ]*\)/);
  assert.match(sp, /written for: .*prenorm/);
  assert.doesNotMatch(sp, /written for: [^)]*ngpt/);
  assert.match(
    errorOf(() => trial("ngpt", { name: "mup", base_width: 32 }, 64, 2)),
    /parameterization "mup" does not apply to block "ngpt"/,
  );
});

Deno.test("parameterization: width not divisible by head_dim is refused", () => {
  assert.equal(
    errorOf(() => trial("prenorm", { name: "sp" }, 40, 2)),
    "trial: model.width: width 40 is not divisible by head_dim 16 (value: 40)",
  );
});

Deno.test("parameterization: a missing base shape is refused, saying which and why", () => {
  const need = (rule: string, key: string, what: string) =>
    `trial: parameterization.${key}: ${rule} needs ${key}: the ${what} its learning rates were tuned at`;
  assert.equal(errorOf(() => trial("prenorm", { name: "mup" }, 64, 2)), need("mup", "base_width", "width"));
  assert.equal(
    errorOf(() => trial("prenorm", { name: "completep", base_width: 32 }, 64, 2)),
    need("completep", "base_depth", "depth"),
  );
  assert.equal(
    errorOf(() => trial("prenorm", { name: "completep" }, 64, 2)),
    [need("completep", "base_width", "width"), need("completep", "base_depth", "depth")].join("\n"),
  );
  assert.equal(
    errorOf(() => trial("ngpt", { name: "nugpt", base_depth: 2, base_steps: 100 }, 64, 2)),
    need("nugpt", "base_width", "width"),
  );
  assert.equal(
    errorOf(() => trial("ngpt", { name: "nugpt", base_width: 32, base_depth: 2 }, 64, 2)),
    "trial: parameterization.base_steps: nugpt needs base_steps for its m_data^(-1/3) horizon correction " +
      "(or horizon_correction: false)",
  );
  // sp and ngpt need no base shape.
  trial("prenorm", { name: "sp" }, 64, 2);
  trial("ngpt", { name: "ngpt" }, 64, 2);
});

Deno.test("parameterization: --set parameterization.name swaps the rule (five built-ins and the example plugin), 20 steps each", async () => {
  const corpus = await tinyCorpus();
  const plugin = new URL("../pipelines/plugins/nugpt_two_thirds.ts", import.meta.url).pathname;
  // Width 32 over base 16: every rule's multipliers differ from 1.
  const text = `name: swap
plugins: [${plugin}]
trial: &trial
  data: {corpus: ${corpus}, tokenizer: {name: byte}, seq_len: 16, val_fraction: 0.1}
  model: {block: prenorm, width: 32, depth: 1, head_dim: 16}
  parameterization: {name: sp, base_width: 16, base_depth: 1, base_steps: 10}
  optimizer: {name: adam, lr: 0.01}
  train: {steps: 20, batch_size: 4, eval_every: 20, eval_batches: 1, log_every: 20, backend: wasm, save_model: false}
stages:
  train: {uses: train, with: *trial}
`;
  const out = await Deno.makeTempDir();
  const rules = [
    ["sp", "prenorm"],
    ["mup", "prenorm"],
    ["completep", "prenorm"],
    ["ngpt", "ngpt"],
    ["nugpt", "ngpt"],
    ["nugpt-2/3", "ngpt"],
  ];
  for (const [name, block] of rules) {
    const p = await parsePipeline(text, "swap.yaml", [
      `parameterization.name=${name}`,
      `model.block=${block}`,
    ]);
    const o = (await runPipeline(p, { out, log: () => {} })).get("train") as TrainOutput;
    assert.equal(o.trial.parameterization.name, name);
    assert.equal(o.result.status, "ok", `${name}: ${o.result.error}`);
    assert.equal(o.result.steps_done, 20, name);
    assert(o.result.final_val_loss! < o.result.step0_val_loss!, `${name}: val loss did not fall`);
    // The trial ran the rule it names: its params.json holds that rule's step-0 LRs.
    const params = JSON.parse(await Deno.readTextFile(`${o.dir}/params.json`)) as ParamRow[];
    const d = describeTrial(o.trial, 256);
    assert.deepEqual(params.map((r) => r.lr), d.params.map((r) => r.lr), name);
  }
  // The plugin differs from nuGPT only in the hidden LR: 0.01 * 2^(-1/3) * 2^(-2/3) against 2^(-3/4).
  const hidden = (name: string) =>
    describeTrial(
      trial("ngpt", { name, base_width: 16, base_depth: 1, base_steps: 10 }, 32, 1),
      V,
    ).params.find((r) => r.name === "blocks.0.W_q")!.lr;
  const etaBase = ETA * Math.pow(STEPS / 10, -1 / 3);
  close(hidden("nugpt-2/3"), etaBase * Math.pow(2, -2 / 3), "nugpt-2/3 hidden lr");
  close(hidden("nugpt"), etaBase * Math.pow(2, -3 / 4), "nugpt hidden lr");
});
