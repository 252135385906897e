/**
 * Pipelines: YAML files naming stages (`uses:` a stage component, `needs:`
 * earlier stages, `with:` its options). The whole file is validated before
 * any work starts, every error naming file, line, key path and value; then
 * the stages run in dependency order.
 */
import { basename, dirname, isAbsolute, resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import YAML, { isAlias, isMap, isScalar, isSeq, LineCounter, type Node } from "yaml";
import { z } from "zod";
import { formatIssue, getPath, type Issue, setPath, type TrialConfig } from "./config.ts";
import { DmodelError, show } from "./errors.ts";
import { has, resolve } from "./registry.ts";
import type { Stage, StageContext } from "./stage.ts";

/** The top level of a pipeline file. */
const PipelineSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '.', '_' and '-' only"),
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
  uses: string;
  needs: string[];
  with: Record<string, unknown>;
}

/** A validated pipeline, ready to run. */
export interface Pipeline {
  name: string;
  file: string;
  dir: string;
  /** The resolved document (aliases expanded, --set applied). */
  raw: Record<string, unknown>;
  stages: Map<string, { decl: StageDecl; stage: Stage; options: unknown }>;
  /** Stage ids in dependency order. */
  order: string[];
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
): void {
  if (TOP_LEVEL.has(set.path[0])) return setPath(doc, set.path, set.value);
  let hit = false;
  const stages = (doc.stages ?? {}) as Record<string, { with?: Record<string, unknown> }>;
  for (const s of Object.values(stages)) {
    const w = s?.with;
    if (!w || typeof w !== "object") continue;
    for (const target of [w, w.base as Record<string, unknown> | undefined]) {
      if (target && typeof target === "object" && set.path[0] in target) {
        setPath(target, set.path, structuredClone(set.value));
        hit = true;
        break;
      }
    }
  }
  if (!hit) {
    throw new DmodelError(`--set ${text}: no stage has a key ${show(set.path[0])} to override`);
  }
}

/** Imports plugin modules (paths relative to the pipeline file); they register components on import. */
export async function importPlugins(
  plugins: string[],
  dir: string,
  where: (i: number) => string,
): Promise<void> {
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
  }
}

/** Parses pipeline text (for files and tests); `file` names it in errors. */
export async function parsePipeline(text: string, file: string, sets: string[] = []): Promise<Pipeline> {
  const lc = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lc, merge: true, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? "?";
    throw new DmodelError(`${file}:${line}: malformed YAML: ${e.message.split("\n")[0]}`);
  }
  const loc = new Locator(doc, lc);
  const fail = (issues: Issue[]) => {
    throw new DmodelError(issues.map((i) => formatIssue(file, loc.line(i.path), i)).join("\n"));
  };
  const raw = (doc.toJS({ maxAliasCount: 10000 }) ?? {}) as Record<string, unknown>;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    fail([{ path: [], message: "a pipeline is a mapping with name and stages" }]);
  }
  for (const s of sets) applySet(raw, parseSet(s), s);
  const top = PipelineSchema.safeParse(raw);
  if (!top.success) {
    fail(top.error.issues.map((i) => ({
      path: i.path as (string | number)[],
      message: i.code === "unrecognized_keys" ? `unknown key(s) ${i.keys.join(", ")}` : i.message,
      value: getPath(raw, i.path as string[]),
    })));
  }
  const p = top.data!;
  const dir = file ? dirname(resolvePath(file)) : Deno.cwd();
  await importPlugins(p.plugins, dir, (i) => `${file}:${loc.line(["plugins", i]) ?? "?"}`);

  const issues: Issue[] = [];
  const stages: Pipeline["stages"] = new Map();
  for (const [id, decl] of Object.entries(p.stages)) {
    const at = ["stages", id];
    if (!has("stage", decl.uses)) {
      try {
        resolve("stage", decl.uses);
      } catch (e) {
        issues.push({ path: [...at, "uses"], message: (e as Error).message, value: decl.uses });
        continue;
      }
    }
    for (const [i, n] of decl.needs.entries()) {
      if (!(n in p.stages)) {
        issues.push({ path: [...at, "needs", i], message: `no stage ${show(n)} in this pipeline`, value: n });
      }
    }
    const c = resolve<unknown, Stage>("stage", decl.uses);
    const r = c.schema.safeParse(decl.with);
    if (!r.success) {
      for (const i of r.error.issues) {
        const path = [...at, "with", ...(i.path as (string | number)[])];
        issues.push({
          path,
          message: i.code === "unrecognized_keys"
            ? `unknown key(s) ${i.keys.map((k) => show(k)).join(", ")}`
            : i.message,
          value: i.code === "unrecognized_keys" ? undefined : getPath(raw, path as string[]),
        });
      }
      continue;
    }
    stages.set(id, { decl, options: r.data, stage: c.create(r.data) });
  }
  if (issues.length) fail(issues);
  return { name: p.name, file, dir, raw, stages, order: topoOrder(p.stages, file) };
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

/** Loads and validates a pipeline file. */
export async function loadPipeline(file: string, sets: string[] = []): Promise<Pipeline> {
  let text: string;
  try {
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
  flags?: Record<string, unknown>;
  log?: (line: string) => void;
}

/** Runs the stages in dependency order; returns each stage's output by id. */
export async function runPipeline(p: Pipeline, opts: RunPipelineOptions = {}): Promise<Map<string, unknown>> {
  const outDir = opts.out ?? `runs/${p.name}`;
  const log = opts.log ?? ((s: string) => console.error(s));
  await Deno.mkdir(outDir, { recursive: true });
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
      outputs,
      flags: opts.flags ?? {},
      log,
    };
    log(`stage ${id} (${s.decl.uses})`);
    outputs.set(id, await s.stage.run(ctx));
  }
  return outputs;
}

/** The pipeline's file name without extension, for messages. */
export function pipelineLabel(p: Pipeline): string {
  return p.file ? basename(p.file) : p.name;
}

/** The trial configs a pipeline's stages hold: a train stage's `with:`, a sweep's `with.base`. */
export function stageTrials(p: Pipeline): { stage: string; trial: TrialConfig }[] {
  const out: { stage: string; trial: TrialConfig }[] = [];
  for (const [id, s] of p.stages) {
    // deno-lint-ignore no-explicit-any
    const o = s.options as any;
    const t = o?.model && o?.data ? o : o?.base?.model && o?.base?.data ? o.base : null;
    if (t) out.push({ stage: id, trial: t as TrialConfig });
  }
  return out;
}
