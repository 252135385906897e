/**
 * Hostile input and the trial sandbox: each case asserts
 * the exact one-line message (never `internal error` with a stack), or what a
 * trial process is allowed to do.
 */
import assert from "node:assert/strict";
import "../components/mod.ts";
import { sweepPermissions, TRIAL_ENV, trialCommand, trialWrites } from "../components/executor/command.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { checkTrialDir } from "../engine/core/paths.ts";
import { parsePipeline, runPipeline } from "../engine/core/pipeline.ts";
import { type PlannedTrial, setMaxTrials } from "../engine/sweep/grid.ts";
import { SMALL36, writeSyntheticSweep } from "./fixtures/synthetic_sweep.ts";
import { sweepCommand, tinyCorpus, tinySweepYaml } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

/** The message of the DmodelError that `p` rejects with (fails on anything else). */
async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof DmodelError, `expected a DmodelError, got ${(e as Error)?.stack ?? e}`);
    return e.message;
  }
  throw new Error("no error");
}

const corpus = await tinyCorpus();

Deno.test("hostile --out: empty, the root, an existing file, a comma: one line each, nothing written", async () => {
  const p = await parsePipeline(tinySweepYaml(corpus), "p.yaml");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file.txt`, "x");
    const cases: [string, string][] = [
      ["", '--out "": an empty path (an unset shell variable?); give a directory for the runs'],
      ["  ", '--out "  ": an empty path (an unset shell variable?); give a directory for the runs'],
      ["/", '--out "/": the filesystem root; give a directory below it'],
      ["/..", '--out "/..": the filesystem root; give a directory below it'],
      [`${dir}/file.txt`, `--out "${dir}/file.txt": an existing file, not a directory`],
      [
        `${dir}/a,b`,
        `--out "${dir}/a,b": contains a comma, which Deno's permission flags (--allow-write=a,b) cannot carry; ` +
        "choose a path without one",
      ],
    ];
    for (const [out, message] of cases) {
      assert.equal(await rejection(runPipeline(p, { out, log: () => {} })), message);
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["file.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile name: '..', '.', a slash, empty are refused at their line", async () => {
  const at = (name: string) => rejection(parsePipeline(tinySweepYaml(corpus, { name }), "p.yaml"));
  assert.equal(
    await at('".."'),
    'p.yaml:1: name: runs/.. would not be a directory of its own; use a plain name (value: "..")',
  );
  assert.equal(
    await at('"."'),
    'p.yaml:1: name: runs/. would not be a directory of its own; use a plain name (value: ".")',
  );
  assert.equal(
    await at('"a/../../etc"'),
    `p.yaml:1: name: use letters, digits, '.', '_' and '-' only (value: "a/../../etc")`,
  );
  assert.equal(await at('""'), 'p.yaml:1: name: an empty name (value: "")');
});

Deno.test("hostile YAML: an alias bomb and 20,000 nested '[' are one-line errors", async () => {
  const bomb = ["name: bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (const [i, c] of ["b", "c", "d", "e", "f"].entries()) {
    const prev = "abcde"[i];
    bomb.push(`${c}: &${c} [${Array(10).fill(`*${prev}`).join(", ")}]`);
  }
  bomb.push("stages: {}");
  assert.equal(
    await rejection(parsePipeline(bomb.join("\n"), "bomb.yaml")),
    "bomb.yaml: YAML aliases expand to more than 10000 nodes (an alias bomb?): refused",
  );
  assert.equal(
    await rejection(parsePipeline(`name: deep\nstages: ${"[".repeat(20000)}`, "deep.yaml")),
    "deep.yaml: malformed YAML: nested too deeply to parse",
  );
  // Anchors as the shipped pipelines use them still work (a whole trial config, aliased per stage).
  const anchored = await parsePipeline(tinySweepYaml(corpus), "p.yaml");
  assert.equal(anchored.name, "test-sweep");
});

Deno.test("hostile pipeline file: a device or a folder is refused before reading it", async () => {
  for (const [file, what] of [["/dev/zero", "/dev/zero"], [root, root]]) {
    const r = await sweepCommand(file, "/tmp/unused").output();
    assert.equal(r.code, 1);
    assert.equal(
      dec.decode(r.stderr).trim(),
      `error: ${what}: not a regular file (a folder, device or pipe)`,
    );
  }
});

Deno.test("hostile corpus: a device is refused at its line before any work; a binary file is one line", async () => {
  const yaml = tinySweepYaml("/dev/zero");
  assert.equal(
    await rejection(parsePipeline(yaml, "p.yaml")),
    'p.yaml:3: stages.sweep.with.base.data.corpus: "/dev/zero" is not a regular file or folder (a device, ' +
      "pipe or socket); give a text file, a folder of them, or a registered dataset",
  );
  const dir = await Deno.makeTempDir();
  try {
    const bin = `${dir}/bin.dat`;
    await Deno.writeFile(bin, new Uint8Array(4096).map((_, i) => (i * 131 + 7) % 256));
    await Deno.writeTextFile(`${dir}/p.yaml`, tinySweepYaml(bin, { lrs: "[0.01]", widths: "[16]" }));
    const out = await sweepCommand(`${dir}/p.yaml`, `${dir}/out`).output();
    assert.equal(out.code, 1);
    assert.equal(dec.decode(out.stderr).trim().split("\n").at(-1), `error: ${bin}: not valid UTF-8 text`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile grid: its size is counted before expanding and refused over the limit; the limit moves", async () => {
  // 2^-20 .. 2^0 in steps of 1e-6: 20,000,001 values, refused in far less time than expanding would take.
  const huge = tinySweepYaml(corpus, { lrs: "{log2: [-20, 0], step: 0.000001}", widths: "[16, 32]" });
  const t0 = performance.now();
  assert.equal(
    await rejection(parsePipeline(huge, "p.yaml")),
    "p.yaml:13: stages.sweep.with.grid: the grid has 40,000,002 trials (model.width 2 x optimizer.lr " +
      "20000001), more than max_trials 100000 (raise it with max_trials: or --max-trials N) " +
      '(value: {"model.width":[16,32],"optimizer.lr":{"log2":[-20,0],"step":0.000001}})',
  );
  assert.ok(performance.now() - t0 < 5000, `${performance.now() - t0} ms`);
  // max_trials: in the pipeline, and --max-trials over it.
  const six = (extra: string) => tinySweepYaml(corpus, { extra });
  assert.match(
    await rejection(parsePipeline(six("      max_trials: 5\n"), "p.yaml")),
    /^p\.yaml:13: stages\.sweep\.with\.grid: the grid has 6 trials \(model\.width 2 x optimizer\.lr 3\), more than max_trials 5 /,
  );
  setMaxTrials(6);
  try {
    const p = await parsePipeline(six("      max_trials: 5\n"), "p.yaml");
    assert.equal((p.stages.get("sweep")!.options as { trials: unknown[] }).trials.length, 6);
  } finally {
    setMaxTrials(undefined);
  }
  const bad = await sweepCommand("pipelines/quickstart.yaml", "/tmp/unused", ["--max-trials", "0"]).output();
  assert.equal(dec.decode(bad.stderr).trim(), 'error: --max-trials "0": a positive integer');
});

Deno.test({
  name: "hostile disk: a full disk during analyze is one line, exit 1, and the earlier files are kept",
  // A 1 MiB tmpfs in a private mount namespace: needs unshare and mount (root, or user namespaces).
  ignore: new Deno.Command("unshare", { args: ["-rm", "true"], stderr: "null" }).outputSync().code !== 0,
  async fn() {
    const src = await Deno.makeTempDir();
    const mnt = await Deno.makeTempDir();
    try {
      await writeSyntheticSweep(src, { ...SMALL36, trialFiles: false });
      const script = `mount -t tmpfs -o size=1m tmpfs ${mnt} && cp -r ${src}/. ${mnt}/ &&
        (dd if=/dev/zero of=${mnt}/fill bs=4k 2>/dev/null || true) &&
        ${Deno.execPath()} run -A ${root}/tasks/analyze.ts ${mnt} --no-figures; echo "rc=$?";
        cmp ${src}/results.csv ${mnt}/results.csv && echo kept`;
      const out = await new Deno.Command("unshare", {
        args: ["-rm", "sh", "-c", script],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = dec.decode(out.stderr).trim();
      assert.equal(
        err,
        `error: the disk is full: No space left on device (os error 28): writefile '${mnt}/analysis.json'; ` +
          "run the same command again once fixed",
      );
      assert.deepEqual(dec.decode(out.stdout).trim().split("\n"), ["rc=1", "kept"]);
    } finally {
      await Deno.remove(src, { recursive: true });
      await Deno.remove(mnt, { recursive: true });
    }
  },
});

/** A plan of one trial on `corpus` (only what the sandbox reads of it). */
function plan(corpusPath: string, dir = "t0"): PlannedTrial[] {
  return [
    {
      index: 0,
      id: "x",
      dir,
      point: {},
      config: { data: { corpus: corpusPath } },
    } as unknown as PlannedTrial,
  ];
}

Deno.test("sandbox: a trial's permission flags are the narrowed set", async () => {
  const sweep = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${sweep}/plugins.json`, JSON.stringify(["/opt/plugins/mynorm.ts"]));
    const perms = await sweepPermissions(sweep, [...plan("brown"), ...plan("rel/corpus.txt")]);
    const args = trialCommand(sweep, 3, { ...perms, write: trialWrites(sweep, "t3") });
    const cwd = Deno.cwd();
    assert.deepEqual(args, [
      "run",
      `--allow-read=${root},${cwd}/data/cache,${sweep},${cwd}/rel/corpus.txt,/opt/plugins`,
      `--allow-write=${sweep}/t3,${sweep}/events.jsonl`,
      "--allow-ffi",
      `--allow-env=${TRIAL_ENV.join(",")}`,
      "--allow-sys=hostname",
      "--no-prompt",
      `${root}/tasks/trial.ts`,
      sweep,
      "--index",
      "3",
    ]);
    // A corpus path Deno cannot carry in a flag is refused before a trial starts.
    const comma = await sweepPermissions(sweep, plan("/data/a,b.txt"));
    assert.throws(
      () => trialCommand(sweep, 0, { ...comma, write: trialWrites(sweep, "t0") }),
      (e: Error) =>
        e instanceof DmodelError &&
        e.message === "trial permissions: --allow-read path /data/a,b.txt: contains a comma, which Deno's " +
            "permission flags (--allow-write=a,b) cannot carry; choose a path without one",
    );
  } finally {
    await Deno.remove(sweep, { recursive: true });
  }
});

Deno.test("sandbox: every environment variable the engine reads in a trial is allowed by name", async () => {
  // Read only by the sweep or the tools, never in a trial: the compiler, the figures' font.
  const parentOnly = new Set(["CC", "DMODEL_FONT"]);
  const read = new Set<string>();
  for (const top of ["engine", "components"]) {
    for await (const f of walk(`${root}/${top}`)) {
      for (
        const m of (await Deno.readTextFile(f)).matchAll(/(?:Deno\.env\.get|process\.env)\(?\.?"?(\w+)/g)
      ) {
        read.add(m[1]);
      }
    }
  }
  const missing = [...read].filter((v) =>
    !parentOnly.has(v) && !(TRIAL_ENV as readonly string[]).includes(v)
  );
  assert.deepEqual(missing, []);
  assert.ok(read.has("DMODEL_THREADS") && read.has("DMODEL_NATIVE"), [...read].join(", "));
});

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walk(`${dir}/${e.name}`);
    else if (e.name.endsWith(".ts")) yield `${dir}/${e.name}`;
  }
}

Deno.test("sandbox: a trial process can write its own directory only, and read nothing outside", async () => {
  const sweep = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${sweep}/t0`);
    await Deno.mkdir(`${sweep}/t1`);
    await Deno.writeTextFile(`${outside}/secret.txt`, "s");
    const perms = { ...(await sweepPermissions(sweep, plan("brown"))), write: trialWrites(sweep, "t0") };
    const flags = trialCommand(sweep, 0, perms).filter((a) =>
      a.startsWith("--allow-") || a === "--no-prompt"
    );
    const script = `${sweep}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `const tries = {
        own: () => Deno.writeTextFileSync(${JSON.stringify(`${sweep}/t0/m.csv`)}, "x"),
        events: () => Deno.writeTextFileSync(${
        JSON.stringify(`${sweep}/events.jsonl`)
      }, "x", { append: true }),
        other: () => Deno.writeTextFileSync(${JSON.stringify(`${sweep}/t1/m.csv`)}, "x"),
        sweep: () => Deno.writeTextFileSync(${JSON.stringify(`${sweep}/results.csv`)}, "x"),
        read: () => Deno.readTextFileSync(${JSON.stringify(`${outside}/secret.txt`)}),
        env: () => Deno.env.get("HOME"),
        net: () => Deno.connect({ hostname: "127.0.0.1", port: 9 }),
        run: () => new Deno.Command("true").outputSync(),
      };
      const out = {};
      for (const [k, f] of Object.entries(tries)) {
        try { await f(); out[k] = "allowed"; } catch (e) { out[k] = e.name; }
      }
      console.log(JSON.stringify(out));`,
    );
    const r = await new Deno.Command(Deno.execPath(), { args: ["run", ...flags, script], stderr: "piped" })
      .output();
    assert.deepEqual(JSON.parse(dec.decode(r.stdout)), {
      own: "allowed",
      events: "allowed",
      other: "NotCapable",
      sweep: "NotCapable",
      read: "NotCapable",
      env: "NotCapable",
      net: "NotCapable",
      run: "NotCapable",
    });
  } finally {
    await Deno.remove(sweep, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("sandbox: a symbolic link in a sweep directory is refused before any trial runs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const yaml = tinySweepYaml(corpus, { lrs: "[0.01]", widths: "[16, 32]", steps: 2 });
    const p = await parsePipeline(yaml, "p.yaml");
    const trials = (p.stages.get("sweep")!.options as { trials: PlannedTrial[] }).trials;
    const out = `${dir}/out`, elsewhere = `${dir}/elsewhere`;
    await Deno.mkdir(out);
    await Deno.mkdir(elsewhere);
    // A trial directory that is a link elsewhere.
    await Deno.symlink(elsewhere, `${out}/${trials[1].dir}`);
    await Deno.writeTextFile(`${dir}/p.yaml`, yaml);
    const r = await sweepCommand(`${dir}/p.yaml`, out).output();
    assert.equal(r.code, 1);
    const real = Deno.realPathSync(out);
    assert.equal(
      dec.decode(r.stderr).trim().split("\n").at(-1),
      `error: trial directory ${out}/${trials[1].dir}: its real path ${
        Deno.realPathSync(elsewhere)
      } is outside ` +
        `${real}/${trials[1].dir} (a symbolic link?); refused`,
    );
    assert.deepEqual([...Deno.readDirSync(elsewhere)], [], "nothing written through the link");
    // The trial process refuses it too (a Slurm array task runs tasks/trial.ts directly).
    const task = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}/tasks/trial.ts`, out, "--index", "1"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(task.code, 1);
    assert.equal(
      dec.decode(task.stderr).trim(),
      `error: trial directory ${out}/${trials[1].dir}: its real path ${
        Deno.realPathSync(elsewhere)
      } is outside ` +
        `${real}/${trials[1].dir} (a symbolic link?); refused`,
    );
    assert.deepEqual([...Deno.readDirSync(elsewhere)], []);
    // A link inside a trial directory (its metrics.csv), a dangling one, and events.jsonl as a link.
    await Deno.remove(`${out}/${trials[1].dir}`);
    await Deno.mkdir(`${out}/${trials[1].dir}`);
    await Deno.symlink(`${elsewhere}/m.csv`, `${out}/${trials[1].dir}/metrics.csv`);
    assert.throws(
      () => checkTrialDir(out, trials[1].dir),
      (e: Error) =>
        e instanceof DmodelError &&
        e.message === `${out}/${trials[1].dir}/metrics.csv: a symbolic link (to ${elsewhere}/m.csv); refused`,
    );
    await Deno.remove(`${out}/${trials[1].dir}`, { recursive: true });
    await Deno.symlink(`${elsewhere}/gone`, `${out}/${trials[1].dir}`);
    assert.throws(
      () => checkTrialDir(out, trials[1].dir),
      (e: Error) =>
        e instanceof DmodelError &&
        e.message ===
          `trial directory ${out}/${trials[1].dir}: a symbolic link (to ${elsewhere}/gone); refused`,
    );
    await Deno.symlink(`${elsewhere}/events.jsonl`, `${out}/events.jsonl`);
    assert.throws(
      () => checkTrialDir(out, trials[0].dir),
      (e: Error) =>
        e instanceof DmodelError &&
        e.message === `${out}/events.jsonl: a symbolic link (to ${elsewhere}/events.jsonl); refused`,
    );
    // A hand-edited plan naming a directory outside the sweep.
    assert.throws(
      () => checkTrialDir(out, ".."),
      (e: Error) =>
        e instanceof DmodelError &&
        e.message ===
          `trial directory ".." in ${out}: runs/.. would not be a directory of its own; use a plain name`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slurm: sbatch_args that redirect the job's files are refused at their line; template is code", async () => {
  const yaml = (args: string) =>
    tinySweepYaml(corpus, { extra: `      executor: {name: slurm, sbatch_args: ${args}}\n` });
  const msg = (opt: string, i: number, v: string) =>
    `p.yaml:17: stages.sweep.with.executor.sbatch_args.${i}: ${opt} would send the job's files outside the ` +
    `sweep directory (task logs go to <sweep>/slurm/); refused (value: "${v}")`;
  assert.equal(
    await rejection(parsePipeline(yaml('["--output=/elsewhere/%j.out"]'), "p.yaml")),
    msg("--output", 0, "--output=/elsewhere/%j.out"),
  );
  assert.equal(
    await rejection(
      parsePipeline(
        yaml('["--qos=short", "-o", "/x", "--error=/y", "-D/", "--chdir", "/z", "-e/w"]'),
        "p.yaml",
      ),
    ),
    [
      msg("-o", 1, "-o"),
      msg("--error", 3, "--error=/y"),
      msg("-D", 4, "-D/"),
      msg("--chdir", 5, "--chdir"),
      msg("-e", 7, "-e/w"),
    ]
      .join("\n"),
  );
  // Options that do not redirect pass.
  await parsePipeline(
    yaml('["--account=abc", "--qos=short", "--exclusive", "--open-mode=append"]'),
    "p.yaml",
  );
});

Deno.test("sandbox: a plugin outside the checkout, importing a file beside it, runs in every trial", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The plugin's folder is readable by the trials (and nothing else outside the sweep and the checkout).
    await Deno.mkdir(`${dir}/plug`);
    await Deno.writeTextFile(`${dir}/plug/exponent.ts`, "export const HIDDEN_EXPONENT = 1;\n");
    await Deno.writeTextFile(
      `${dir}/plug/mynorm.ts`,
      `import { register } from "${root}/engine/core/registry.ts";
import { nugpt, NugptSchema } from "${root}/components/parameterization/nugpt.ts";
import { HIDDEN_EXPONENT } from "./exponent.ts";
register("parameterization", "mynorm", {
  describe: "nuGPT under its own name (hidden exponent " + HIDDEN_EXPONENT + ")",
  schema: NugptSchema,
  create: (o: unknown) => nugpt(o as never),
});
`,
    );
    const yaml = tinySweepYaml(corpus, { lrs: "[0.01]", widths: "[16]", steps: 2 })
      .replace("name: test-sweep", `name: test-sweep\nplugins: [${dir}/plug/mynorm.ts]`)
      .replace(
        "        model.width: [16]\n",
        "        model.width: [16]\n        parameterization: [{name: ngpt}, {name: mynorm, base_width: 16, " +
          "base_depth: 1, base_steps: 2}]\n",
      );
    await Deno.writeTextFile(`${dir}/p.yaml`, yaml);
    const r = await sweepCommand(`${dir}/p.yaml`, `${dir}/out`).output();
    const err = dec.decode(r.stderr);
    assert.equal(r.code, 0, err);
    assert.ok(
      err.endsWith(`\nsweep ${dir}/out: 2/2 done (2 ok, 0 diverged, 0 failed), 0 partial, 0 pending\n`),
      err,
    );
    assert.match(err, /ngpt-mynorm-w16-L1-n2-lr0\.01-s0-\w+: ok val /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
