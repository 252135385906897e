/** `deno task list [kind]`: every registered component with its description and options. */
import "../components/mod.ts";
import { z } from "zod";
import { DmodelError } from "../engine/core/errors.ts";
import { type Kind, KINDS, listComponents } from "../engine/core/registry.ts";
import { importPlugins } from "../engine/core/pipeline.ts";
import { main, parse } from "./cli.ts";

/** One line per option: name, type, default. */
export function optionLines(schema: z.ZodType): string[] {
  let js: Record<string, unknown>;
  try {
    js = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  } catch {
    return ["(a whole trial config: data, model, parameterization, optimizer, schedule, train)"];
  }
  const props = (js.properties ?? {}) as Record<string, Record<string, unknown>>;
  if (!Object.keys(props).length) {
    return js.type === "object" || !js.type
      ? []
      : ["(a whole trial config: data, model, parameterization, optimizer, schedule, train)"];
  }
  return Object.entries(props).map(([k, v]) => {
    const type = v.type ??
      (v.anyOf ? (v.anyOf as { type?: string }[]).map((a) => a.type ?? "?").join("|") : "any");
    const def = "default" in v ? ` = ${JSON.stringify(v.default)}` : "";
    return `${k}: ${type}${def}`;
  });
}

if (import.meta.main) {
  await main(async () => {
    const { positionals, values } = parse(Deno.args, {
      plugin: { type: "string", multiple: true, default: [] as string[] },
    }, "deno task list [kind] [--plugin file.ts]...");
    await importPlugins(values.plugin, Deno.cwd(), (i) => `--plugin ${values.plugin[i]}`);
    const kind = positionals[0] as Kind | undefined;
    if (kind && !KINDS.includes(kind)) {
      throw new DmodelError(`unknown kind ${JSON.stringify(kind)}; known: ${KINDS.join(", ")}`);
    }
    let last = "";
    for (const c of listComponents(kind)) {
      if (c.kind !== last) console.log(`\n${c.kind}`), last = c.kind;
      console.log(`  ${c.name.padEnd(18)} ${c.describe}`);
      for (const l of optionLines(c.schema)) console.log(`  ${"".padEnd(18)}   ${l}`);
    }
  });
}
