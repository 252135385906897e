/**
 * Pipelines: YAML files naming stages (`uses:` a stage component, `needs:`
 * earlier stages, `with:` its options). The whole file is validated before
 * any work starts, every error naming file, line, key path and value; then
 * the stages run in dependency order.
 */
import { dirname, isAbsolute, resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import YAML, { isAlias, isMap, isScalar, isSeq, LineCounter, type Node } from "yaml";
import { z } from "zod";
import { checkTrial, corpusProblem, getPath, setPath, type TrialConfig } from "./config.ts";
import { DmodelError, formatIssue, type Issue, show, zodIssues } from "./errors.ts";
import { checkComponent, has } from "./registry.ts";
import { checkOutDir, checkRealDir, componentProblem } from "./paths.ts";
import type { DescribedTrial, Stage, StageContext } from "./stage.ts";

/** The top level of a pipeline file. */
const PipelineSchema = z.object({
  // The sweep directory is runs/<name>: one safe path component, never "." or "..".
  name: z.string().superRefine((n, ctx) => {
    const problem = componentProblem(n);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  description: z.string().optional(),
  plugins: z.array(z.string()).default([]),
  stages: z.record(
    z.string(),
    z.object({
      uses: z.string(),
      needs: z.array(z.string()).default([]),
      with: z.record(z.string(), z.unknown()).default({}),
    }).strict(),
  ),
}).loose();

/** A stage as declared. */
export interface StageDecl {
  /** The registered stage component it runs (`uses:`). */
  uses: string;
  /** Ids of the stages that must finish first; their outputs become this stage's inputs (`needs:`). */
  needs: string[];
  /** The stage's options, validated by its component's schema (`with:`). */
  with: Record<string, unknown>;
}

/** A validated pipeline, ready to run. */
export interface Pipeline {
  /** The pipeline's `name:` (default runs directory: runs/<name>/). */
  name: string;
  /** Path of the pipeline file ("" when parsed from text in code). */
  file: string;
  /** Absolute directory of the pipeline file (else the working directory), for relative paths. */
  dir: string;
  /** The resolved document (aliases expanded, --set applied). */
  raw: Record<string, unknown>;
  /** Each stage by id: its declaration, the built stage and its validated options. */
  stages: Map<string, { decl: StageDecl; stage: Stage; options: unknown }>;
  /** Stage ids in dependency order. */
  order: string[];
  /** The `plugins:` as absolute paths (a sweep hands them to its trial processes). */
  plugins: string[];
}

/** Maps key paths of a parsed YAML document to 1-based line numbers. */
class Locator {
  constructor(readonly doc: YAML.Document, readonly lc: LineCounter) {}

  line(path: (string | number)[]): number | null {
    let node: unknown = this.doc.contents;
    let best: number | null = this.lineOfNode(node);
    for (const seg of path) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
        if (!pair) return best;
        best = this.lineOfNode(pair.key) ?? best;
        node = pair.value;
        if (node && !isMap(node) && !isSeq(node)) best = this.lineOfNode(node) ?? best;
      } else if (isSeq(node) && typeof seg === "number") {
        node = node.items[seg];
        best = this.lineOfNode(node) ?? best;
      } else return best;
    }
    return best;
  }

  private lineOfNode(n: unknown): number | null {
    const r = (n as Node | undefined)?.range;
    return r ? this.lc.linePos(r[0]).line : null;
  }
}

/** Parses `key.path=value` overrides; the value is read as YAML (numbers, lists, booleans). */
export function parseSet(s: string): { path: string[]; value: unknown } {
  const eq = s.indexOf("=");
  if (eq <= 0) throw new DmodelError(`--set ${show(s)}: expected key.path=value`);
  let value: unknown;
  try {
    value = YAML.parse(s.slice(eq + 1));
  } catch (e) {
    throw new DmodelError(
      `--set ${show(s)}: value is not valid YAML: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  return { path: s.slice(0, eq).split("."), value: value ?? null };
}

/** yaml's limit on the nodes aliases may expand to (its default, 100, is too few for anchored trial configs). */
const MAX_ALIAS_COUNT = 10000;

const TOP_LEVEL = new Set(["name", "description", "plugins", "stages"]);

/**
 * Applies one override. Top-level keys (name, stages, ...) address the
 * document; any other path addresses the trial config of every stage that
 * has its first key: in `with:` itself (train) or in `with.base` (sweep).
 */
export function applySet(
  doc: Record<string, unknown>,
  set: { path: string[]; value: unknown },
  text: string,
): string[][] {
  if (TOP_LEVEL.has(set.path[0])) {
    setPath(doc, set.path, set.value);
    return [set.path];
  }
  const hits: string[][] = [];
  const stages = (doc.stages ?? {}) as Record<string, { with?: Record<string, unknown> }>;
  for (const [id, s] of Object.entries(stages)) {
    const w = s?.with;
    if (!w || typeof w !== "object") continue;
    for (const [at, target] of [[[], w], [["base"], w.base]] as [string[], unknown][]) {
      if (target && typeof target === "object" && set.path[0] in target) {
        setPath(target as Record<string, unknown>, set.path, structuredClone(set.value));
        hits.push(["stages", id, "with", ...at, ...set.path]);
        if (at.length) hits.push(...applyToAxes(id, w, set));
        break;
      }
    }
  }
  if (!hits.length) {
    throw new DmodelError(`--set ${text}: no stage has a key ${show(set.path[0])} to override`);
  }
  return hits;
}

/**
 * A sweep axis whose values are objects (`parameterization: [{name: ngpt},
 * {name: nugpt, ...}]`) replaces the base's object per trial, so an override
 * of a key inside it (`parameterization.name=...`) is applied to each of the
 * axis's values too; otherwise the grid would silently undo it.
 */
function applyToAxes(
  id: string,
  w: Record<string, unknown>,
  set: { path: string[]; value: unknown },
): string[][] {
  const hits: string[][] = [];
  const visit = (axes: unknown, at: (string | number)[]) => {
    if (!axes || typeof axes !== "object") return;
    for (const [axis, values] of Object.entries(axes as Record<string, unknown>)) {
      const ap = axis.split(".");
      if (!Array.isArray(values) || ap.length >= set.path.length || !startsWith(set.path, ap)) continue;
      // The axis itself counts as set: its issues are reported against the --set.
      hits.push(["stages", id, "with", ...at.map(String), axis]);
      values.forEach((v, i) => {
        if (!v || typeof v !== "object") return;
        setPath(v as Record<string, unknown>, set.path.slice(ap.length), structuredClone(set.value));
        hits.push(["stages", id, "with", ...at.map(String), axis, String(i), ...set.path.slice(ap.length)]);
      });
    }
  };
  visit(w.grid, ["grid"]);
  if (Array.isArray(w.zip)) w.zip.forEach((g, gi) => visit(g, ["zip", gi]));
  return hits;
}

const startsWith = (a: (string | number)[], prefix: (string | number)[]) =>
  prefix.length <= a.length && prefix.every((k, i) => String(a[i]) === String(k));

/**
 * The `--set` an issue comes from, if any: one that set the issue's key (or a
 * key above it), or chose the component (`name`, `block`) the key belongs to.
 */
function blamedSet(i: Issue, sets: { text: string; paths: string[][] }[]): string | undefined {
  const at = i.keys?.length ? i.keys.map((k) => [...i.path, k]) : [i.path];
  for (const s of sets) {
    for (const p of s.paths) {
      const chooser = ["name", "block"].includes(p[p.length - 1]) ? p.slice(0, -1) : null;
      if (at.some((a) => startsWith(a, p) || (chooser && startsWith(a, chooser)))) return s.text;
    }
  }
  return undefined;
}

/** Every `corpus` value in a stage's resolved options, where `seq_len` beside it says it is a data config. */
function corpora(v: unknown, out = new Set<string>(), depth = 0): Set<string> {
  if (!v || typeof v !== "object" || depth > 8) return out;
  const o = v as Record<string, unknown>;
  if (typeof o.corpus === "string" && "seq_len" in o) out.add(o.corpus);
  for (const x of Array.isArray(v) ? v : Object.values(o)) corpora(x, out, depth + 1);
  return out;
}

/** The key path of the first `key: value` pair inside `v` (depth first), or null. */
function findPair(
  v: unknown,
  key: string,
  value: unknown,
  path: (string | number)[] = [],
): (string | number)[] | null {
  if (!v || typeof v !== "object") return null;
  const entries: [string | number, unknown][] = Array.isArray(v)
    ? v.map((x, i) => [i, x])
    : Object.entries(v);
  for (const [k, x] of entries) {
    if (k === key && x === value) return [...path, k];
    const r = findPair(x, key, value, [...path, k]);
    if (r) return r;
  }
  return null;
}

/**
 * Imports plugin modules (paths relative to `dir`); they register components on import.
 * Returns their absolute paths.
 */
export async function importPlugins(
  plugins: string[],
  dir: string,
  where: (i: number) => string,
): Promise<string[]> {
  const paths: string[] = [];
  for (const [i, p] of plugins.entries()) {
    const abs = isAbsolute(p) ? p : resolvePath(dir, p);
    try {
      await Deno.stat(abs);
    } catch {
      throw new DmodelError(`${where(i)}: plugins.${i}: plugin file not found (value: ${show(p)})`);
    }
    try {
      await import(pathToFileURL(abs).href);
    } catch (e) {
      throw new DmodelError(
        `${where(i)}: plugins.${i}: plugin ${show(p)} failed to load: ${(e as Error).message.split("\n")[0]}`,
      );
    }
    paths.push(abs);
  }
  return paths;
}

/** Parses pipeline text (for files and tests); `file` names it in errors. */
export async function parsePipeline(text: string, file: string, sets: string[] = []): Promise<Pipeline> {
  const lc = new LineCounter();
  const doc = parseYAMLDocument(text, file, lc);
  const loc = new Locator(doc, lc);
  const applied: { text: string; paths: string[][] }[] = [];
  const fail = (issues: Issue[]): never => {
    const lines = issues.map((i) => {
      const set = blamedSet(i, applied);
      // One unknown key: its own line, not its object's.
      const at = i.keys?.length === 1 ? [...i.path, i.keys[0]] : i.path;
      return set ? formatIssue(`--set ${set}`, null, i) : formatIssue(file, loc.line(at), i);
    });
    throw new DmodelError([...new Set(lines)].join("\n"));
  };
  const raw = documentValue(doc, file);
  if (typeof raw !== "object" || Array.isArray(raw)) {
    fail([{ path: [], message: "a pipeline is a mapping with name and stages" }]);
  }
  for (const s of sets) applied.push({ text: s, paths: applySet(raw, parseSet(s), s) });
  const top = PipelineSchema.safeParse(raw);
  if (!top.success) {
    fail(zodIssues(top.error, [], raw, PipelineSchema));
  }
  const p = top.data!;
  const dir = file ? dirname(resolvePath(file)) : Deno.cwd();
  const plugins = await importPlugins(p.plugins, dir, (i) => `${file}:${loc.line(["plugins", i]) ?? "?"}`);
  const { stages, issues } = createStages(p.stages, raw);
  if (issues.length) fail(issues);
  return { name: p.name, file, dir, raw, stages, order: topoOrder(p.stages, file), plugins };
}

/** The YAML document of pipeline text; malformed YAML is a one-line error with its line. */
function parseYAMLDocument(text: string, file: string, lc: LineCounter): YAML.Document {
  let doc: YAML.Document;
  try {
    doc = YAML.parseDocument(text, { lineCounter: lc, merge: true, uniqueKeys: true });
  } catch (e) {
    // 20,000 nested "[" exhaust the parser's stack: a one-line error, not a stack trace.
    if (e instanceof RangeError) throw new DmodelError(`${file}: malformed YAML: nested too deeply to parse`);
    throw e;
  }
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? "?";
    throw new DmodelError(`${file}:${line}: malformed YAML: ${e.message.split("\n")[0]}`);
  }
  return doc;
}

/** The document as plain values, aliases expanded up to {@link MAX_ALIAS_COUNT} nodes. */
function documentValue(doc: YAML.Document, file: string): Record<string, unknown> {
  try {
    return (doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {}) as Record<string, unknown>;
  } catch (e) {
    // yaml refuses aliases that expand past maxAliasCount nodes (an "alias bomb").
    if (e instanceof ReferenceError && /excessive alias count/i.test(e.message)) {
      throw new DmodelError(
        `${file}: YAML aliases expand to more than ${MAX_ALIAS_COUNT} nodes (an alias bomb?): refused`,
      );
    }
    if (e instanceof ReferenceError) throw new DmodelError(`${file}: malformed YAML: ${e.message}`);
    if (e instanceof RangeError) throw new DmodelError(`${file}: malformed YAML: nested too deeply to read`);
    throw e;
  }
}

/**
 * Each stage built from its registered component and validated `with:`, or the issues: an unknown
 * stage kind, a `needs` naming no stage, bad options, a data file that is missing (checked now, not
 * when the data stage reaches it).
 */
function createStages(
  decls: Record<string, StageDecl>,
  raw: Record<string, unknown>,
): { stages: Pipeline["stages"]; issues: Issue[] } {
  const issues: Issue[] = [];
  const stages: Pipeline["stages"] = new Map();
  const reported = new Set<string>();
  for (const [id, decl] of Object.entries(decls)) {
    const at = ["stages", id];
    const check = () =>
      checkComponent("stage", decl.uses, decl.with as Record<string, unknown>, [...at, "with"], [
        ...at,
        "uses",
      ]);
    if (!has("stage", decl.uses)) {
      issues.push(...check().issues);
      continue;
    }
    for (const [i, n] of decl.needs.entries()) {
      if (!(n in decls)) {
        issues.push({ path: [...at, "needs", i], message: `no stage ${show(n)} in this pipeline`, value: n });
      }
    }
    const r = check();
    if (!r.component) {
      for (const issue of r.issues) {
        if (issue.value === undefined && !issue.keys) issue.value = getPath(raw, issue.path as string[]);
        issues.push(issue);
      }
      continue;
    }
    for (const corpus of corpora(r.options)) {
      const problem = reported.has(corpus) ? null : corpusProblem(corpus);
      if (!problem) continue;
      reported.add(corpus);
      const path = findPair(decl.with, "corpus", corpus);
      issues.push({ path: path ? [...at, "with", ...path] : at, message: problem });
    }
    stages.set(id, { decl, options: r.options, stage: r.component.create(r.options) as Stage });
  }
  return { stages, issues };
}

function topoOrder(stages: Record<string, { needs: string[] }>, file: string): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (id: string, chain: string[]) => {
    if (state.get(id) === "done") return;
    if (state.get(id) === "visiting") {
      throw new DmodelError(`${file}: stages: dependency cycle ${[...chain, id].join(" -> ")}`);
    }
    state.set(id, "visiting");
    for (const n of stages[id].needs) visit(n, [...chain, id]);
    state.set(id, "done");
    order.push(id);
  };
  for (const id of Object.keys(stages)) visit(id, []);
  return order;
}

/** The largest pipeline file read (the shipped ones are a few KiB). */
const MAX_PIPELINE_BYTES = 4 * 1024 * 1024;

/** Loads and validates a pipeline file. */
export async function loadPipeline(file: string, sets: string[] = []): Promise<Pipeline> {
  let text: string;
  try {
    // A device (/dev/zero) or a huge file would be read without end: refused before reading.
    const info = await Deno.stat(file);
    if (!info.isFile) throw new DmodelError(`${file}: not a regular file (a folder, device or pipe)`);
    if (info.size > MAX_PIPELINE_BYTES) {
      throw new DmodelError(
        `${file}: ${info.size} bytes, more than a pipeline file may have (${MAX_PIPELINE_BYTES})`,
      );
    }
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DmodelError(`${file}: pipeline file not found`);
    throw e;
  }
  return await parsePipeline(text, file, sets);
}

/** Options of a pipeline run. */
export interface RunPipelineOptions {
  /** Where runs go (default runs/<pipeline name>/). */
  out?: string;
  /** Run only these stages (and what they need). */
  only?: string[];
  /** Command-line flags passed to every stage (resume, fresh, ...). */
  flags?: Record<string, unknown>;
  /** Receives progress lines and notices (default: stderr). */
  log?: (line: string) => void;
}

/** Runs the stages in dependency order; returns each stage's output by id. */
export async function runPipeline(p: Pipeline, opts: RunPipelineOptions = {}): Promise<Map<string, unknown>> {
  const outDir = opts.out ?? `runs/${p.name}`;
  const log = opts.log ?? ((s: string) => console.error(s));
  if (opts.out !== undefined) checkOutDir(opts.out);
  else {
    checkOutDir(outDir, "runs directory");
    await Deno.mkdir("runs", { recursive: true });
    // runs/ may be a link to a bigger disk; runs/<name> itself must not lead elsewhere.
    checkRealDir(outDir, `${Deno.realPathSync("runs")}/${p.name}`, "sweep directory");
  }
  // A status query reads what is there and creates nothing.
  if (!opts.flags?.status) await Deno.mkdir(outDir, { recursive: true });
  let order = p.order;
  if (opts.only?.length) {
    const want = new Set<string>();
    const add = (id: string) => {
      if (!p.stages.has(id)) {
        throw new DmodelError(`${p.file}: no stage ${show(id)}; stages: ${p.order.join(", ")}`);
      }
      if (want.has(id)) return;
      want.add(id);
      p.stages.get(id)!.decl.needs.forEach(add);
    };
    opts.only.forEach(add);
    order = order.filter((id) => want.has(id));
  }
  const outputs = new Map<string, unknown>();
  for (const id of order) {
    const s = p.stages.get(id)!;
    const ctx: StageContext = {
      pipelineName: p.name,
      pipelineFile: p.file,
      pipelineDir: p.dir,
      outDir,
      stageId: id,
      inputs: new Map(s.decl.needs.filter((n) => outputs.has(n)).map((n) => [n, outputs.get(n)])),
      flags: opts.flags ?? {},
      plugins: p.plugins,
      log,
    };
    log(`stage ${id} (${s.decl.uses})`);
    outputs.set(id, await s.stage.run(ctx));
  }
  return outputs;
}

/**
 * The trials a pipeline's stages train, resolved with every component's
 * defaults: a stage's own `trials()`, else a train stage's `with:`, a
 * sweep's or study's `base` (validated as a whole trial; when the base alone
 * is not one, the first planned trial), or the first of its `trials`.
 */
export function stageTrials(p: Pipeline): ({ stage: string } & DescribedTrial)[] {
  const out: ({ stage: string } & DescribedTrial)[] = [];
  const isTrial = (v: unknown) => {
    const o = v as { model?: unknown; data?: unknown } | null;
    return Boolean(o && typeof o === "object" && o.model && o.data);
  };
  for (const [id, s] of p.stages) {
    if (s.stage.trials) {
      for (const t of s.stage.trials()) out.push({ stage: id, ...t });
      continue;
    }
    // deno-lint-ignore no-explicit-any
    const o = s.options as any;
    const planned = Array.isArray(o?.trials)
      ? (o.trials as unknown[]).map((t) => (t as { config?: unknown }).config ?? t).filter(isTrial)
      : [];
    let trial: TrialConfig | undefined;
    if (isTrial(o)) trial = checkTrial(o).trial;
    else if (isTrial(o?.base)) trial = checkTrial(o.base).trial ?? (planned[0] as TrialConfig | undefined);
    else if (planned.length) trial = planned[0] as TrialConfig;
    if (trial) out.push({ stage: id, trial });
  }
  return out;
}
