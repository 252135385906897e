/**
 * `deno task list [kind] [--plugin file.ts]... [--pipeline file.yaml]`: every
 * registered component (built-in, and those a plugin or a pipeline's
 * `plugins:` registers) with its description and options: type, default,
 * and `(required)` where the component cannot do without it.
 */
import "../components/mod.ts";
import { dirname } from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { TrialOption, TrialSchema } from "../engine/core/config.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { type Kind, KINDS, listComponents } from "../engine/core/registry.ts";
import { importPlugins } from "../engine/core/pipeline.ts";
import { main, parse } from "./cli.ts";

type JSONSchema = Record<string, unknown>;

const BIG = Number.MAX_SAFE_INTEGER;

/** A JSON schema's type as a reader writes it: `number > 0`, `"a"|"b"`, `string[]`, `integer|null`. */
export function typeText(v: JSONSchema): string {
  if (Array.isArray(v.enum)) return v.enum.map((e) => JSON.stringify(e)).join("|");
  if ("const" in v) return JSON.stringify(v.const);
  const alts = (v.anyOf ?? v.oneOf) as JSONSchema[] | undefined;
  if (alts) return [...new Set(alts.map(typeText))].join("|");
  if (Array.isArray(v.type)) return v.type.join("|");
  if (v.type === "array") {
    if (Array.isArray(v.prefixItems)) return `[${(v.prefixItems as JSONSchema[]).map(typeText).join(", ")}]`;
    const item = v.items ? typeText(v.items as JSONSchema) : "";
    return item && item !== "any"
      ? `${item.includes("|") || item.includes(" ") ? `(${item})` : item}[]`
      : "array";
  }
  if (v.type === "object") {
    const props = v.properties as Record<string, unknown> | undefined;
    if (props && Object.keys(props).length) return `{${Object.keys(props).join(", ")}}`;
    const extra = v.additionalProperties as JSONSchema | undefined;
    return extra && typeof extra === "object" && Object.keys(extra).length
      ? `{[key]: ${typeText(extra)}}`
      : "object";
  }
  if (v.type === "number" || v.type === "integer") {
    const bounds: string[] = [];
    if (typeof v.exclusiveMinimum === "number") bounds.push(`> ${v.exclusiveMinimum}`);
    if (typeof v.minimum === "number" && v.minimum > -BIG) bounds.push(`>= ${v.minimum}`);
    if (typeof v.exclusiveMaximum === "number") bounds.push(`< ${v.exclusiveMaximum}`);
    if (typeof v.maximum === "number" && v.maximum < BIG) bounds.push(`<= ${v.maximum}`);
    return [v.type, bounds.join(", ")].filter(Boolean).join(" ");
  }
  return typeof v.type === "string" ? v.type : "any";
}

/** Keys a schema cannot do without: refused when left out (what an empty input reports missing). */
function requiredKeys(schema: z.ZodType, js: JSONSchema): Set<string> {
  const out = new Set<string>((js.required as string[] | undefined) ?? []);
  const r = schema.safeParse({});
  for (const i of r.error?.issues ?? []) {
    if (i.path.length && i.code !== "unrecognized_keys") out.add(i.path.map(String).join("."));
  }
  return out;
}

function lines(js: JSONSchema, required: Set<string>, prefix: string, depth: number): string[] {
  const props = (js.properties ?? {}) as Record<string, JSONSchema>;
  const own = new Set<string>((js.required as string[] | undefined) ?? []);
  return Object.entries(props).flatMap(([k, v]) => {
    const key = prefix + k;
    const def = "default" in v ? ` = ${JSON.stringify(v.default)}` : "";
    const req = required.has(key) || (own.has(k) && !("default" in v)) ? " (required)" : "";
    const nested = v.type === "object" && v.properties && depth < 1;
    return nested
      ? [`${key}: ${typeText(v)}${def}${req}`, ...lines(v, required, `${key}.`, depth + 1)]
      : [`${key}: ${typeText(v)}${def}${req}`];
  });
}

/** One line per option: `name: type = default (required)`; a whole trial config by its fields. */
export function optionLines(schema: z.ZodType): string[] {
  // The train stage's `with:` is a whole trial: its fields, each component's by `deno task list <kind>`.
  if (schema === TrialOption) {
    return [
      "(a whole trial config; the options of the component a `name:` chooses: deno task list <kind>)",
      ...optionLines(TrialSchema),
    ];
  }
  let js: JSONSchema;
  try {
    js = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JSONSchema;
  } catch {
    return ["(options not listable)"];
  }
  return lines(js, requiredKeys(schema, js), "", 0);
}

/** The `plugins:` of a pipeline file, as paths relative to it. */
async function pipelinePlugins(file: string): Promise<string[]> {
  let doc: unknown;
  try {
    doc = YAML.parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new DmodelError(`--pipeline ${file}: ${(e as Error).message.split("\n")[0]}`);
  }
  const plugins = (doc as { plugins?: unknown })?.plugins ?? [];
  return Array.isArray(plugins) ? plugins.map(String) : [];
}

const USAGE = "deno task list [kind] [--plugin file.ts]... [--pipeline file.yaml]";

if (import.meta.main) {
  await main(async () => {
    const { positionals, values } = parse(Deno.args, {
      plugin: { type: "string", multiple: true, default: [] as string[] },
      plugins: { type: "string", multiple: true, default: [] as string[] },
      pipeline: { type: "string" },
      help: { type: "boolean", short: "h" },
    }, USAGE);
    if (values.help) {
      console.error(`usage: ${USAGE}`);
      return 0;
    }
    const builtIn = new Set(listComponents().map((c) => `${c.kind}/${c.name}`));
    const files = [...values.plugin, ...values.plugins];
    await importPlugins(files, Deno.cwd(), (i) => `--plugin ${files[i]}`);
    if (values.pipeline) {
      const p = await pipelinePlugins(values.pipeline);
      await importPlugins(p, dirname(values.pipeline), (i) => `${values.pipeline}: plugins.${i}`);
    }
    const kind = positionals[0] as Kind | undefined;
    if (kind && !KINDS.includes(kind)) {
      throw new DmodelError(`unknown kind ${JSON.stringify(kind)}; known: ${KINDS.join(", ")}`);
    }
    let last = "";
    for (const c of listComponents(kind)) {
      if (c.kind !== last) console.log(`\n${c.kind}`), last = c.kind;
      const plugin = builtIn.has(`${c.kind}/${c.name}`) ? "" : " (plugin)";
      console.log(`  ${c.name.padEnd(18)} ${c.describe}${plugin}`);
      for (const l of optionLines(c.schema)) console.log(`  ${"".padEnd(18)}   ${l}`);
    }
  });
}
