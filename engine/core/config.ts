/**
 * The trial: one fully resolved training configuration. Its fixed fields
 * are validated here; each `name:`-chosen component validates its own
 * options (the sibling fields) with its registered schema.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { DmodelError, formatIssue, type Issue, show, zodIssue, zodIssues } from "./errors.ts";
import { build, checkComponent, has, type Kind, listComponents } from "./registry.ts";
import type { Parameterization } from "./contracts.ts";

/** The `data:` block of a trial: which corpus, which tokenizer, window length, split. */
export const DataConfigSchema = z.strictObject({
  /** A registered dataset name (`brown`) or a path: `.bin` shard, text file, or folder. */
  corpus: z.string().min(1).default("brown"),
  /** `{name, ...options}` of a registered tokenizer (ignored for `.bin` shards). */
  tokenizer: z.looseObject({ name: z.string().min(1) }).default({ name: "bpe" }),
  /** Tokens per training window (the model's context length). */
  seq_len: z.int().positive().default(64),
  /** Fraction of documents held out for validation. */
  val_fraction: z.number().gt(0).lt(1).default(0.05),
});

/** A parsed data config (defaults filled). */
export type DataConfig = z.infer<typeof DataConfigSchema>;
/** A data config as written by a user (fields optional). */
export type DataConfigInput = z.input<typeof DataConfigSchema>;

/** The problem of a corpus path that names a device, pipe or socket (`/dev/zero` would never end). */
export function notFileOrFolder(corpus: string): string {
  return `${show(corpus)} is not a regular file or folder (a device, pipe or socket); give a text file, ` +
    `a folder of them, or a registered dataset`;
}

/**
 * Why a `corpus` value cannot be used, checked without reading it (for the
 * pipeline loader, before any work): null when it names a registered
 * dataset or an existing file or folder. Paths resolve from the working directory.
 */
export function corpusProblem(corpus: string): string | null {
  if (has("dataset", corpus)) return null;
  try {
    const info = Deno.statSync(corpus);
    return info.isFile || info.isDirectory ? null : notFileOrFolder(corpus);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) return null; // reported when the data is built
  }
  const known = listComponents("dataset").map((c) => c.name).join(", ");
  return `${show(corpus)} is neither a registered dataset (known: ${known}) nor an existing file or folder ` +
    `(paths resolve from the working directory, ${Deno.cwd()})`;
}

/** The model's shape and block family. */
export const ModelSchema = z.looseObject({
  block: z.string().default("ngpt"),
  width: z.number().int().positive(),
  depth: z.number().int().positive(),
  head_dim: z.number().int().positive(),
});

const named = (def: string) => z.looseObject({ name: z.string().default(def) }).default({ name: def });

/** Training-loop options. */
export const TrainSchema = z.object({
  steps: z.number().int().positive(),
  batch_size: z.number().int().positive(),
  eval_every: z.number().int().positive().default(50),
  eval_batches: z.number().int().positive().default(8),
  log_every: z.number().int().positive().default(10),
  seed: z.number().int().nonnegative().default(0),
  backend: z.string().default("auto"),
  /** Save a checkpoint every this many steps (0: only at the end). */
  checkpoint_every: z.number().int().nonnegative().default(0),
  /** Stop as diverged when val loss exceeds this; null: above the step-0 loss. */
  divergence_threshold: z.number().positive().nullable().default(null),
  /** Write model.safetensors at the end. */
  save_model: z.boolean().default(true),
}).strict();

/** A whole trial configuration, before component options are checked. */
export const TrialSchema = z.object({
  data: DataConfigSchema,
  model: ModelSchema,
  parameterization: named("ngpt"),
  optimizer: named("adam"),
  schedule: named("cosine"),
  train: TrainSchema,
  probes: z.array(z.looseObject({ name: z.string() })).default([]),
}).strict();

/** A resolved trial configuration. */
export type TrialConfig = z.infer<typeof TrialSchema>;

/** True when an issue is about the key at `path`, below it, or in the component that `path` chooses. */
export function issueUnder(i: Issue, path: string[]): boolean {
  const at = i.keys?.length ? i.keys.map((k) => [...i.path, k]) : [i.path];
  const under = (a: (string | number)[], p: string[]) =>
    p.length <= a.length && p.every((k, j) => String(a[j]) === k);
  const chooser = ["name", "block"].includes(path[path.length - 1]) ? path.slice(0, -1) : null;
  // An unknown key that heads the path (`optimiser` of the axis `optimiser.lr`) is the axis' own typo.
  const typo = (a: (string | number)[]) => Boolean(i.keys?.length) && under(path, a.map(String));
  return at.some((a) => under(a, path) || (chooser !== null && under(a, chooser)) || typo(a));
}

/** Validates a component's sibling options; the `name` (or `nameKey`) field picks the component. */
export function validateComponent(
  kind: Kind,
  raw: Record<string, unknown>,
  path: (string | number)[],
  nameKey = "name",
  drop: string[] = [],
): { value: Record<string, unknown>; issues: Issue[] } {
  const name = raw[nameKey] as string;
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (k !== nameKey && !drop.includes(k)) opts[k] = v;
  const r = checkComponent(kind, name, opts, path, [...path, nameKey]);
  if (!r.component) return { value: raw, issues: r.issues };
  const value: Record<string, unknown> = { [nameKey]: name };
  for (const k of drop) if (k in raw) value[k] = raw[k];
  Object.assign(value, r.options);
  return { value, issues: [] };
}

/**
 * The registered blocks a rule can drive, in registration order: those whose
 * `family` is one of the rule's `families` (so a plugin block of family `sp`
 * works with every SP-style rule without editing any list).
 */
export function blocksFor(rule: Parameterization): string[] {
  return listComponents("block", false).filter((c) => {
    try {
      return rule.families.includes(build("block", { name: c.name }).family);
    } catch {
      return false; // a block without defaults for every option: not listed
    }
  }).map((c) => c.name);
}

/**
 * Validates a raw trial config. Returns the resolved config (defaults
 * filled, component options checked) or the list of problems with key paths.
 */
export function checkTrial(
  raw: unknown,
  prefix: (string | number)[] = [],
): { trial?: TrialConfig; issues: Issue[] } {
  const r = TrialSchema.safeParse(raw);
  if (!r.success) return { issues: zodIssues(r.error, prefix, raw, TrialSchema) };
  const t = r.data;
  const issues: Issue[] = [];
  const comp = (kind: Kind, key: keyof TrialConfig, nameKey = "name", drop: string[] = []) => {
    const res = validateComponent(kind, t[key] as Record<string, unknown>, [...prefix, key], nameKey, drop);
    issues.push(...res.issues);
    // deno-lint-ignore no-explicit-any
    (t as any)[key] = res.value;
  };
  comp("block", "model", "block", ["width", "depth", "head_dim"]);
  comp("parameterization", "parameterization");
  comp("optimizer", "optimizer");
  comp("schedule", "schedule");
  const tok = validateComponent("tokenizer", t.data.tokenizer as Record<string, unknown>, [
    ...prefix,
    "data",
    "tokenizer",
  ]);
  issues.push(...tok.issues);
  t.data.tokenizer = tok.value as typeof t.data.tokenizer;
  t.probes = t.probes.map((p, i) => {
    const res = validateComponent("probe", p, [...prefix, "probes", i]);
    issues.push(...res.issues);
    return res.value as typeof p;
  });
  if (!has("backend", t.train.backend)) {
    issues.push({
      path: [...prefix, "train", "backend"],
      message: `unknown backend ${show(t.train.backend)}; known: ${
        listComponents("backend").map((b) => b.name).join(", ")
      }`,
      value: t.train.backend,
    });
  }
  if (!issues.length) {
    // A rule written for other blocks is refused here, before any work.
    const { name } = t.parameterization;
    const rule = build("parameterization", t.parameterization, [...prefix, "parameterization"]);
    const blocks = blocksFor(rule);
    if (!blocks.includes(t.model.block)) {
      issues.push({
        path: [...prefix, "parameterization", "name"],
        message: `parameterization ${show(name)} does not apply to block ${show(t.model.block)} ` +
          `(it is written for: ${blocks.join(", ")})`,
        value: name,
      });
    }
  }
  if (t.model.width % t.model.head_dim !== 0) {
    issues.push({
      path: [...prefix, "model", "width"],
      message: `width ${t.model.width} is not divisible by head_dim ${t.model.head_dim}`,
      value: t.model.width,
    });
  }
  if (t.model.head_dim % 2 !== 0) {
    issues.push({
      path: [...prefix, "model", "head_dim"],
      message: `head_dim must be even for RoPE`,
      value: t.model.head_dim,
    });
  }
  return issues.length ? { issues } : { trial: t, issues };
}

/** Validates a trial config or throws one DmodelError line per problem. */
export function parseTrial(raw: unknown, where = "trial"): TrialConfig {
  const { trial, issues } = checkTrial(raw);
  if (!trial) throw new DmodelError(issues.map((i) => formatIssue(where, null, i)).join("\n"));
  return trial;
}

/** Canonical JSON: keys sorted at every level, so equal configs hash equally. */
export function canonicalJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) =>
        `${JSON.stringify(k)}:${canonicalJSON(o[k])}`
      )
        .join(",")
    }}`;
  }
  return JSON.stringify(v);
}

/** Stable trial id: first 12 hex digits of sha256 of the canonical resolved config. */
export function trialId(t: TrialConfig): string {
  return createHash("sha256").update(canonicalJSON(t)).digest("hex").slice(0, 12);
}

/** An option's value as a folder name shows it: numbers to 3 significant digits ("0.177", "1e-16", "500"). */
function short(v: unknown): string {
  return typeof v === "number" ? String(Number(v.toPrecision(3))) : String(v);
}

/**
 * A readable directory name: block-parameterization-w<d>-L<depth>-n<steps>-lr<lr>-s<seed>[-key=value...]-<id>.
 * `extra` names the other options that tell this trial apart from its sweep's others
 * (`{hidden_exponent: 0.75}` -> `-hidden_exponent=0.75`); the id's first 6 hex digits end every name.
 */
export function trialDirName(t: TrialConfig, id = trialId(t), extra: Record<string, unknown> = {}): string {
  const lr = Number(t.optimizer.lr ?? 0).toPrecision(3).replace(/\.?0+(e|$)/, "$1");
  const more = Object.entries(extra).map(([k, v]) => `-${k}=${short(v).slice(0, 24)}`).join("");
  const name = `${t.model.block}-${t.parameterization.name}-w${t.model.width}-L${t.model.depth}` +
    `-n${t.train.steps}-lr${lr}-s${t.train.seed}${more}-${id.slice(0, 6)}`;
  return name.replace(/[^A-Za-z0-9._=-]/g, "_"); // plugin names like "nugpt-2/3" stay one directory
}

/** The config paths `trialDirName` always shows. */
export const DIR_NAME_PATHS = [
  "model.block",
  "parameterization.name",
  "model.width",
  "model.depth",
  "train.steps",
  "optimizer.lr",
  "train.seed",
];

/** Flattens a nested object by dotted path: {a: {b: 1}} -> {"a.b": 1}; arrays stay JSON. */
export function flatten(v: Record<string, unknown>, prefix = "", out: Record<string, unknown> = {}) {
  for (const [k, x] of Object.entries(v)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (x && typeof x === "object" && !Array.isArray(x)) flatten(x as Record<string, unknown>, key, out);
    else out[key] = Array.isArray(x) ? JSON.stringify(x) : x;
  }
  return out;
}

/** Sets a dotted path in a nested object, creating objects on the way. */
export function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) {
    if (o[k] === undefined || o[k] === null || typeof o[k] !== "object") o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[path[path.length - 1]] = value;
}

/** Reads a dotted path, or undefined. */
export function getPath(obj: unknown, path: string[]): unknown {
  // deno-lint-ignore no-explicit-any
  let o: any = obj;
  for (const k of path) o = o?.[k];
  return o;
}

/** A zod schema for a trial config inside a stage's options; issues keep their key paths. */
export const TrialOption = z.unknown().transform((v, ctx) => {
  const r = checkTrial(v);
  if (!r.trial) {
    for (const i of r.issues) ctx.addIssue(zodIssue(i));
    return z.NEVER;
  }
  return r.trial;
});
