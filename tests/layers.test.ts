/**
 * The import direction of the tree (docs/architecture.md): every engine
 * layer imports only the layers below it, no engine file imports
 * components/ or tasks/, components never import tasks/ or the entry points.
 * The imports are read from Deno's own module graph (`deno info --json`),
 * so comments and strings never count and every position is exact.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What each engine layer may import besides itself (the layers below it). */
export const ENGINE_LAYERS: Record<string, readonly string[]> = {
  core: [],
  kernels: ["core"],
  data: ["core"],
  nn: ["core", "kernels", "data"],
  analysis: ["core"],
  train: ["core", "kernels", "data", "nn", "analysis"],
  sweep: ["core", "kernels", "data", "nn", "analysis", "train"],
};

/** One import: the importing file and its 1-based line, the imported file, both repo-relative. */
export interface ImportEdge {
  from: string;
  line: number;
  to: string;
}

/** Where a repo-relative file sits: an engine layer, or one of the other areas. */
function area(path: string): string {
  const engine = path.match(/^engine\/([^/]+)\//);
  if (engine) return `engine/${engine[1]}`;
  if (path.startsWith("engine/")) return "engine";
  if (path === "mod.ts") return "mod.ts";
  return path.split("/")[0];
}

/** Why an import goes the wrong way, or null when it is allowed. */
export function violation(e: ImportEdge): string | null {
  const from = area(e.from), to = area(e.to);
  if (from === "tests") return null;
  if (from === "engine") return "engine files belong in a layer folder (engine/<layer>/)";
  if (from.startsWith("engine/")) {
    const layer = from.slice("engine/".length);
    const allowed = ENGINE_LAYERS[layer];
    if (!allowed) return `engine/${layer} is not a known layer (${Object.keys(ENGINE_LAYERS).join(", ")})`;
    if (!to.startsWith("engine/")) return `an engine file imports ${to}/ (only engine layers below it)`;
    const target = to.slice("engine/".length);
    if (target === layer || allowed.includes(target)) return null;
    return `engine/${layer} may import only ${[layer, ...allowed].map((l) => `engine/${l}`).join(", ")}`;
  }
  if (from === "components" || from === "pipelines") {
    if (to.startsWith("engine/") || to === "components" || to === "pipelines") return null;
    return `${from}/ may import only engine/ and components/`;
  }
  if (from === "tasks" || from === "mod.ts") {
    return to === "tests" ? `${from} imports tests/` : null;
  }
  return null;
}

/** The wrong-way imports, one line each: `file:line imports target: reason`. */
export function violations(edges: ImportEdge[]): string[] {
  return edges.flatMap((e) => {
    const why = violation(e);
    return why ? [`${e.from}:${e.line} imports ${e.to}: ${why}`] : [];
  });
}

/** Every .ts file git tracks outside tests/ (plus untracked, non-ignored ones). */
async function sourceFiles(): Promise<string[]> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts"],
    cwd: ROOT,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((f) => f && !f.startsWith("tests/"))
    .filter((f) => {
      try {
        return Deno.statSync(`${ROOT}/${f}`).isFile;
      } catch {
        return false; // deleted in the working tree
      }
    });
}

interface InfoDep {
  code?: { specifier: string; span: { start: { line: number } } };
  type?: { specifier: string; span: { start: { line: number } } };
}

/** The repo-internal imports of the given files, read from `deno info --json`. */
async function importEdges(files: string[]): Promise<ImportEdge[]> {
  const dir = await Deno.makeTempDir();
  try {
    const all = `${dir}/all.ts`;
    await Deno.writeTextFile(
      all,
      files.map((f) => `import "${pathToFileURL(`${ROOT}/${f}`).href}";`).join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", `${ROOT}/deno.json`, all],
      cwd: ROOT,
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: { specifier: string; error?: string; dependencies?: (InfoDep & { specifier: string })[] }[];
    };
    const broken = graph.modules.filter((m) => m.error).map((m) => m.error);
    assert.deepEqual(broken, [], "every module parses");
    const inRepo = (spec: string) =>
      spec.startsWith("file://") && !relative(ROOT, fileURLToPath(spec)).startsWith("..")
        ? relative(ROOT, fileURLToPath(spec))
        : null;
    const edges: ImportEdge[] = [];
    for (const m of graph.modules) {
      const from = inRepo(m.specifier);
      if (!from) continue;
      for (const d of m.dependencies ?? []) {
        for (const r of [d.code, d.type]) {
          const to = r && inRepo(r.specifier);
          if (to) edges.push({ from, line: r.span.start.line + 1, to });
        }
      }
    }
    return edges;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("layers: the checker names file:line of an import that goes the wrong way", () => {
  const edges: ImportEdge[] = [
    { from: "engine/data/prepare.ts", line: 10, to: "components/dataset/brown.ts" },
    { from: "engine/core/config.ts", line: 8, to: "engine/data/prepare.ts" },
    { from: "engine/sweep/run.ts", line: 3, to: "tasks/trial.ts" },
    { from: "components/stage/sweep.ts", line: 5, to: "tasks/sweep.ts" },
    { from: "engine/stray.ts", line: 1, to: "engine/core/errors.ts" },
    // allowed: downward, same layer, components -> engine, entry points -> components
    { from: "engine/train/trainer.ts", line: 9, to: "engine/nn/network.ts" },
    { from: "engine/nn/ops.ts", line: 4, to: "engine/nn/init.ts" },
    { from: "components/block/ngpt.ts", line: 9, to: "engine/core/registry.ts" },
    { from: "tasks/sweep.ts", line: 7, to: "components/mod.ts" },
    { from: "tests/data.test.ts", line: 3, to: "tasks/cli.ts" },
  ];
  assert.deepEqual(violations(edges), [
    "engine/data/prepare.ts:10 imports components/dataset/brown.ts: an engine file imports components/ (only engine layers below it)",
    "engine/core/config.ts:8 imports engine/data/prepare.ts: engine/core may import only engine/core",
    "engine/sweep/run.ts:3 imports tasks/trial.ts: an engine file imports tasks/ (only engine layers below it)",
    "components/stage/sweep.ts:5 imports tasks/sweep.ts: components/ may import only engine/ and components/",
    "engine/stray.ts:1 imports engine/core/errors.ts: engine files belong in a layer folder (engine/<layer>/)",
  ]);
});

Deno.test("layers: every import in the tree goes downward", async () => {
  const files = await sourceFiles();
  assert.ok(files.includes("engine/core/registry.ts") && files.includes("mod.ts"), "found the sources");
  const edges = await importEdges(files);
  // The graph really is read: the trainer's import of the network is among the edges.
  assert.ok(edges.some((e) => e.from === "engine/train/trainer.ts" && e.to === "engine/nn/network.ts"));
  assert.deepEqual(violations(edges), []);
});

Deno.test("layers: no engine file names a components/ or tasks/ module by URL either", async () => {
  const bad: string[] = [];
  for (const f of (await sourceFiles()).filter((f) => f.startsWith("engine/"))) {
    const lines = (await Deno.readTextFile(`${ROOT}/${f}`)).split("\n");
    lines.forEach((l, i) => {
      if (/^\s*(\*|\/\/)/.test(l)) return; // a comment
      if (/["'`](\.\.\/)+(components|tasks)\//.test(l)) bad.push(`${f}:${i + 1}: ${l.trim()}`);
    });
  }
  assert.deepEqual(bad, []);
});
