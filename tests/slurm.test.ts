/**
 * The slurm executor against a real one-node Slurm (tests/slurm/cluster.sh):
 * the same sweep through Slurm and through local workers gives the same
 * results; a detached array job is followed by a later run, `scancel` mid-way
 * leaves the unfinished trials marked failed (Slurm state + log path), and
 * the next run resubmits only those, which resume from their checkpoints; an
 * adaptive sweep (lr_search) submits one array job per wave and plans the
 * same trials as with local workers.
 *
 * Needs root and Debian's slurm-wlm + munge (`apt-get install slurm-wlm munge`);
 * skipped otherwise.
 */
import assert from "node:assert/strict";
import * as aq from "arquero";
import "../components/mod.ts";
import { arraySpec, parseArraySpec, slurmScript } from "../components/executor/slurm.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { parsePipeline } from "../engine/core/pipeline.ts";
import { tinyCorpus, tinySweepYaml } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

function onPath(cmd: string): boolean {
  for (const d of (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    try {
      if (Deno.statSync(`${d}/${cmd}`).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

const missing = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel"].filter((c) => !onPath(c));
const skip = Deno.uid() !== 0 ? "not root" : missing.length ? `${missing.join(", ")} not found` : "";
if (skip) {
  console.log(
    `slurm.test.ts: skipped (${skip}); to enable: run as root with Debian's Slurm installed ` +
      `(apt-get install slurm-wlm munge)`,
  );
}

function sweepYaml(
  corpus: string,
  o: { steps: number; lrs: string; widths: string; maxParallel: number },
): string {
  const executor = `      executor: {name: slurm, max_parallel: ${o.maxParallel}, poll_seconds: 0.5}\n`;
  return tinySweepYaml(corpus, { name: "slurm-test", ...o, extra: executor });
}

interface Cluster {
  env: Record<string, string>;
  dir: string;
}

async function startCluster(): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-slurm-" });
  // A random port pair, so that a stray test cluster cannot answer for this one.
  const port = String(20000 + Math.floor(Math.random() * 20000) * 2);
  const r = await new Deno.Command("bash", {
    args: [`${root}tests/slurm/cluster.sh`, "start", dir],
    env: { SLURM_PORT: port },
  }).output();
  assert.equal(r.code, 0, `cluster.sh start: ${dec.decode(r.stderr)}`);
  return { dir, env: { SLURM_CONF: `${dir}/slurm.conf`, CI: "true" } };
}

async function stopCluster(c: Cluster): Promise<void> {
  // Cancel whatever a failed test left queued, then stop the daemons by their pid files.
  await new Deno.Command("scancel", { args: ["--user", "root"], env: c.env }).output().catch(() => {});
  for (let i = 0; i < 50; i++) {
    const q = await new Deno.Command("squeue", { args: ["-h"], env: c.env }).output();
    if (!dec.decode(q.stdout).trim()) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Deno.Command("bash", { args: [`${root}tests/slurm/cluster.sh`, "stop", c.dir] }).output();
}

function sweep(c: Cluster, file: string, out: string, extra: string[] = []): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/sweep.ts`, file, "--out", out, ...extra],
    cwd: root,
    env: c.env,
    stdout: "piped",
    stderr: "piped",
  });
}

async function ok(cmd: Deno.Command): Promise<{ stdout: string; stderr: string }> {
  const r = await cmd.output();
  const o = { stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  assert.equal(r.code, 0, o.stderr);
  return o;
}

type Plan = { index: number; id: string; dir: string }[];
const readPlan = async (out: string): Promise<Plan> =>
  JSON.parse(await Deno.readTextFile(`${out}/trials.json`));
const readJobs = async (out: string): Promise<{ job_id: string; indices: number[] }[]> =>
  JSON.parse(await Deno.readTextFile(`${out}/slurm/jobs.json`));
const hasResult = (out: string, t: { dir: string }) =>
  Deno.stat(`${out}/${t.dir}/result.json`).then(() => true, () => false);

/** results.csv as rows keyed by trial id, without the timing columns. */
async function resultRows(out: string): Promise<Map<string, Record<string, unknown>>> {
  const t = aq.fromCSV(await Deno.readTextFile(`${out}/results.csv`));
  const rows = new Map<string, Record<string, unknown>>();
  for (const r of t.objects() as Record<string, unknown>[]) {
    const { wall_s: _w, tokens_per_s: _t, ...rest } = r;
    rows.set(String(r.trial_id), rest);
  }
  return rows;
}

const defaults = {
  time: "01:00:00",
  cpus_per_task: 1,
  max_parallel: 8,
  sbatch_args: [],
  poll_seconds: 5,
};

Deno.test("slurm executor: array specs are trial indices; the script runs trial.ts with this Deno", async () => {
  assert.equal(arraySpec([7, 1, 4, 2, 3, 9, 10]), "1-4,7,9-10");
  assert.deepEqual(parseArraySpec("0-2,5,8-12:2%4"), [0, 1, 2, 5, 8, 10, 12]);
  const script = await slurmScript("/shared/runs/s1", [1, 4, 7], {
    ...defaults,
    partition: "gpu",
    mem: "4G",
    cpus_per_task: 2,
  });
  const lines = script.split("\n");
  for (
    const l of [
      "#SBATCH --array=1,4,7%8",
      "#SBATCH --output=/shared/runs/s1/slurm/%A_%a.out",
      "#SBATCH --cpus-per-task=2",
      "#SBATCH --time=01:00:00",
      "#SBATCH --mem=4G",
      "#SBATCH --partition=gpu",
      "#SBATCH --job-name=dmodel-s1",
      `cd ${Deno.cwd()}`,
    ]
  ) assert(lines.includes(l), `missing ${l} in\n${script}`);
  const exec = lines.find((l) => l.startsWith("exec "))!;
  assert(exec.startsWith(`exec ${Deno.execPath()} run `), exec);
  assert(exec.endsWith(`${root}tasks/trial.ts /shared/runs/s1 --index "$SLURM_ARRAY_TASK_ID"`), exec);
  // Each task writes only its own trial directory (line index+1 of slurm/trial_dirs) and events.jsonl.
  assert(exec.includes(` "--allow-write=$SWEEP_DIR/$TRIAL_DIR,$SWEEP_DIR/events.jsonl" `), exec);
  assert(
    lines.includes(`TRIAL_DIR="$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$SWEEP_DIR/slurm/trial_dirs")"`),
  );
  // Reading, environment and system information by name; FFI unscoped (components/executor/command.ts).
  assert(!/--allow-(all|net|run)|-A |--allow-(read|write|env|sys) /.test(exec), exec);
  assert(exec.includes(" --allow-sys=hostname "), exec);

  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/t.sh`,
    "#!/bin/bash\n{{sbatch}}\nmodule load x\n{{command}}\n# {{sweep_dir}}\n",
  );
  const own = await slurmScript("/shared/runs/s1", [0, 1], { ...defaults, template: `${dir}/t.sh` });
  assert.match(
    own,
    /^#!\/bin\/bash\n#SBATCH --job-name=dmodel-s1\n[^]*#SBATCH --array=0-1%8\n[^]*module load x\ncd /,
  );
  assert.match(own, /# \/shared\/runs\/s1\n$/);
  await Deno.writeTextFile(`${dir}/bad.sh`, "{{sbatch}}\n{{command}} {{partition}}\n");
  await assert.rejects(
    slurmScript("/r", [0], { ...defaults, template: `${dir}/bad.sh` }),
    (e: Error) =>
      e instanceof DmodelError && /bad\.sh: unknown placeholder \{\{partition\}\}/.test(e.message),
  );
  await Deno.writeTextFile(`${dir}/none.sh`, "{{sbatch}}\n");
  await assert.rejects(
    slurmScript("/r", [0], { ...defaults, template: `${dir}/none.sh` }),
    (e: Error) => e instanceof DmodelError && /none\.sh lacks \{\{command\}\}/.test(e.message),
  );
});

Deno.test("slurm executor: bad options name their line; no sbatch is one clear error", async () => {
  const corpus = await tinyCorpus();
  const yaml = sweepYaml(corpus, { steps: 2, lrs: "[0.01]", widths: "[16]", maxParallel: 2 });
  await assert.rejects(
    parsePipeline(yaml.replace("max_parallel: 2", "max_parallel: 2, time: 1h"), "s.yaml"),
    (e: Error) =>
      e instanceof DmodelError &&
      /^s\.yaml:\d+: stages\.sweep\.with\.executor\.time: a time limit/.test(e.message),
  );
  const dir = await Deno.makeTempDir({ prefix: "dmodel-nosbatch-" });
  await Deno.writeTextFile(`${dir}/s.yaml`, yaml);
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/sweep.ts`, `${dir}/s.yaml`, "--out", `${dir}/runs`],
    cwd: root,
    env: { PATH: "/nonexistent", CI: "true" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = dec.decode(r.stderr);
  assert.equal(r.code, 1, err);
  assert.match(
    err,
    /^error: executor slurm: sbatch not found on PATH: Slurm is not installed or not reachable here/m,
  );
});

Deno.test({
  name: "slurm executor: a real one-node cluster; same results as local; detach, follow, scancel, resubmit",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const corpus = await tinyCorpus();
    const work = await Deno.makeTempDir({ prefix: "dmodel-slurm-sweep-" });
    const c = await startCluster();
    try {
      await t.step(
        "6 trials through Slurm and through local workers: same trials, statuses, results",
        async () => {
          const file = `${work}/grid.yaml`;
          await Deno.writeTextFile(
            file,
            sweepYaml(corpus, { steps: 6, lrs: "[0.01, 0.1]", widths: "[16, 24, 32]", maxParallel: 2 }),
          );
          const t0 = performance.now();
          const s = await ok(sweep(c, file, `${work}/slurm`));
          const slurmS = (performance.now() - t0) / 1000;
          assert.match(s.stderr, /slurm: submitted job \d+: 6 trial\(s\), --array=0-5%2/);
          const t1 = performance.now();
          await ok(sweep(c, file, `${work}/local`, ["--executor", "local"]));
          console.log(
            `  slurm ${slurmS.toFixed(1)} s, local ${((performance.now() - t1) / 1000).toFixed(1)} s`,
          );

          const [ps, pl] = [await readPlan(`${work}/slurm`), await readPlan(`${work}/local`)];
          assert.deepEqual(ps.map((t) => t.id), pl.map((t) => t.id));
          const [rs, rl] = [await resultRows(`${work}/slurm`), await resultRows(`${work}/local`)];
          assert.equal(rs.size, 6);
          assert.deepEqual([...rs.values()].map((r) => r.status), Array(6).fill("ok"));
          for (const [id, row] of rl) assert.deepEqual(rs.get(id), row, `trial ${id}`);
          // The script: the array indices are trial indices; each task runs trial.ts with this Deno.
          const script = await Deno.readTextFile(`${work}/slurm/slurm/array.sbatch`);
          assert.match(script, /^#SBATCH --array=0-5%2$/m);
          assert.match(script, new RegExp(`^#SBATCH --output=${work}/slurm/slurm/%A_%a\\.out$`, "m"));
          assert(
            script.includes(`exec ${Deno.execPath()} run `) &&
              script.includes(`--index "$SLURM_ARRAY_TASK_ID"`),
          );
          const [job] = await readJobs(`${work}/slurm`);
          for (const t of ps) assert(await Deno.stat(`${work}/slurm/slurm/${job.job_id}_${t.index}.out`));
          // A finished sweep submits nothing.
          const again = await ok(sweep(c, file, `${work}/slurm`));
          assert.match(again.stderr, /6 already done, 0 to run/);
          assert.equal((await readJobs(`${work}/slurm`)).length, 1);
        },
      );

      await t.step(
        "a plugin parameterization beside a built-in one: every Slurm task imports the plugin, all ok",
        async () => {
          const file = `${work}/plugin.yaml`, out = `${work}/plugin`;
          const plugin = `${root}pipelines/plugins/nugpt_qk.ts`;
          await Deno.writeTextFile(
            file,
            sweepYaml(corpus, { steps: 6, lrs: "[0.01, 0.1]", widths: "[32]", maxParallel: 2 })
              .replace("name: slurm-test", `name: slurm-test\nplugins: [${plugin}]`)
              .replace(
                "parameterization: {name: ngpt}",
                "parameterization: {name: nugpt, base_width: 16, base_depth: 1, base_steps: 6}",
              )
              .replace("      grid:", "      grid:\n        parameterization.name: [nugpt, nugpt-qk]"),
          );
          const s = await ok(sweep(c, file, out));
          assert.match(s.stderr, /slurm: submitted job \d+: 4 trial\(s\)/);
          assert.match(s.stderr, /: 4\/4 done \(4 ok, 0 diverged, 0 failed\), 0 partial, 0 pending$/m);
          // The plugin's rule ran in the tasks: W_q's LR is 0.01 m^(-1/2) (m = 32/16), nuGPT's m^(-3/4).
          const plan = (await readPlan(out)) as (Plan[number] & {
            config: { parameterization: { name: string }; optimizer: { lr: number } };
          })[];
          for (const p of plan) {
            const params = JSON.parse(await Deno.readTextFile(`${out}/${p.dir}/params.json`));
            const wq = params.find((x: { name: string }) => x.name === "blocks.0.W_q").lr;
            const e = p.config.parameterization.name === "nugpt-qk" ? -0.5 : -0.75;
            assert(Math.abs(wq / (p.config.optimizer.lr * 2 ** e) - 1) < 1e-9, `${p.dir}: W_q lr ${wq}`);
          }
        },
      );

      await t.step(
        "an adaptive sweep (lr_search): each wave one array job; the same trials and results as local",
        async () => {
          const file = `${work}/adaptive.yaml`;
          const search =
            "      lr_search: {range: {log2: [-8, 0]}, start_step: 2, resolution: 1, basin_points: 3}\n";
          await Deno.writeTextFile(
            file,
            sweepYaml(corpus, { steps: 6, lrs: "", widths: "[16, 32]", maxParallel: 2 })
              .replace(/^\s*optimizer\.lr: \n/m, "") + search,
          );
          const s = await ok(sweep(c, file, `${work}/adaptive-slurm`));
          await ok(sweep(c, file, `${work}/adaptive-local`, ["--executor", "local"]));
          const [ps, pl] = [
            await readPlan(`${work}/adaptive-slurm`),
            await readPlan(`${work}/adaptive-local`),
          ];
          assert.deepEqual(ps.map((t) => [t.index, t.id]), pl.map((t) => [t.index, t.id]));
          const [rs, rl] = [
            await resultRows(`${work}/adaptive-slurm`),
            await resultRows(`${work}/adaptive-local`),
          ];
          assert.equal(rs.size, ps.length);
          for (const [id, row] of rl) assert.deepEqual(rs.get(id), row, `trial ${id}`);
          // One submission per wave; together they cover every trial once, in plan order.
          const search_ = JSON.parse(await Deno.readTextFile(`${work}/adaptive-slurm/search.json`));
          assert(search_.done && search_.waves >= 3, `${search_.waves} waves`);
          const jobs = await readJobs(`${work}/adaptive-slurm`);
          assert.equal(jobs.length, search_.waves);
          assert.deepEqual(jobs.flatMap((j) => j.indices), ps.map((t) => t.index));
          assert.equal((s.stderr.match(/slurm: submitted job \d+/g) ?? []).length, jobs.length);
          const local = JSON.parse(await Deno.readTextFile(`${work}/adaptive-local/search.json`));
          assert.deepEqual(
            search_.groups.map((g: { best_lr: number; bracketed: boolean }) => [g.best_lr, g.bracketed]),
            local.groups.map((g: { best_lr: number; bracketed: boolean }) => [g.best_lr, g.bracketed]),
          );
        },
      );

      await t.step(
        "detach; a later run follows the queued job; scancel mid-way; re-run resubmits the rest",
        async () => {
          const file = `${work}/kill.yaml`, out = `${work}/kill`;
          await Deno.writeTextFile(
            file,
            sweepYaml(corpus, { steps: 60, lrs: "[0.01, 0.02]", widths: "[16, 32]", maxParallel: 1 }),
          );
          const d = await ok(sweep(c, file, out, ["--detach"]));
          assert.match(d.stderr, /slurm: detached/);
          assert.equal(await Deno.stat(`${out}/sweep.lock`).catch(() => null), null, "the lock is released");
          const [j1] = await readJobs(out);
          assert.deepEqual(j1.indices, [0, 1, 2, 3]);
          const st = await ok(sweep(c, file, out, ["--status"]));
          assert.match(st.stdout, /^0\/4 done/m);
          assert.match(st.stdout, new RegExp(`^slurm job ${j1.job_id} .*: .*(pending|running)`, "m"));

          // A second run sees the queued job and follows it rather than submitting again.
          const follower = sweep(c, file, out).spawn();
          const plan = await readPlan(out);
          const t0 = Date.now();
          let finished: typeof plan = [];
          for (;;) {
            await new Promise((r) => setTimeout(r, 100));
            assert(Date.now() - t0 < 90_000, "no trial finished");
            finished = [];
            for (const t of plan) if (await hasResult(out, t)) finished.push(t);
            if (finished.length >= 1) break;
          }
          // Let the next trial write a checkpoint, then cancel the whole array.
          const next = plan.find((t) => !finished.includes(t))!;
          for (;;) {
            const ck = await Deno.stat(`${out}/${next.dir}/checkpoint.safetensors`).then(
              () => true,
              () => false,
            );
            if (ck || (await hasResult(out, next))) {
              break;
            }
            assert(Date.now() - t0 < 90_000, "no checkpoint");
            await new Promise((r) => setTimeout(r, 100));
          }
          finished = [];
          for (const t of plan) if (await hasResult(out, t)) finished.push(t);
          const cancel = await new Deno.Command("scancel", { args: [j1.job_id], env: c.env }).output();
          assert.equal(cancel.code, 0, dec.decode(cancel.stderr));
          const fr = await follower.output();
          const ferr = dec.decode(fr.stderr);
          assert.match(ferr, new RegExp(`slurm: job ${j1.job_id} .* is still queued: following it`));
          assert.equal((await readJobs(out)).length, 1, "the follower submitted nothing");
          assert(finished.length < 4, "scancel came too late: every trial had finished");
          // The follower marks what Slurm cancelled failed, naming the state and the task's log.
          assert.equal(fr.code, 1, ferr);
          const hadCheckpoint = new Set<string>();
          for (const t of plan) {
            if (await Deno.stat(`${out}/${t.dir}/checkpoint.safetensors`).catch(() => null)) {
              hadCheckpoint.add(t.dir);
            }
          }
          const mtimes = new Map<string, number>();
          const lost = [];
          for (const t of plan) {
            const r = JSON.parse(await Deno.readTextFile(`${out}/${t.dir}/result.json`));
            if (r.status === "ok") {
              mtimes.set(t.dir, (await Deno.stat(`${out}/${t.dir}/result.json`)).mtime!.getTime());
              continue;
            }
            lost.push(t);
            assert.equal(r.status, "failed");
            assert.equal(r.requeue, true);
            assert.match(r.error, /in state CANCELLED/);
            assert(r.error.endsWith(`; log: ${out}/slurm/${j1.job_id}_${t.index}.out`), r.error);
          }
          assert(
            lost.length >= 1 && mtimes.size >= finished.length,
            `${lost.length} lost, ${mtimes.size} ok`,
          );
          const table = aq.fromCSV(await Deno.readTextFile(`${out}/results.csv`));
          assert.equal(table.filter((d: { status: string }) => d.status === "failed").numRows(), lost.length);

          // Re-run: only the cancelled trials are submitted; they resume from their checkpoints.
          const re = await ok(sweep(c, file, out));
          assert.match(
            re.stderr,
            new RegExp(
              `running again ${lost.length} trial\\(s\\) stopped from outside \\(killed, the scheduler`,
            ),
          );
          const jobs = await readJobs(out);
          assert.equal(jobs.length, 2);
          assert.deepEqual(jobs[1].indices, lost.map((t) => t.index).sort((a, b) => a - b));
          for (const t of plan) {
            const r = JSON.parse(await Deno.readTextFile(`${out}/${t.dir}/result.json`));
            assert.equal(r.status, "ok", `${t.dir}: ${r.error}`);
            const rows = (await Deno.readTextFile(`${out}/${t.dir}/metrics.csv`)).trim().split("\n").slice(1);
            assert.equal(rows.length, 61, `${t.dir}: one row per step`);
            if (mtimes.has(t.dir)) {
              assert.equal(
                (await Deno.stat(`${out}/${t.dir}/result.json`)).mtime!.getTime(),
                mtimes.get(t.dir),
              );
            }
          }
          // Every cancelled trial that had a checkpoint resumed from it (the one running at the scancel did).
          let nResumed = 0;
          for (const t of lost) {
            if (!hadCheckpoint.has(t.dir)) continue;
            const log = await Deno.readTextFile(`${out}/slurm/${jobs[1].job_id}_${t.index}.out`);
            assert.match(log, /resumed .* at step [1-9]\d*/, `${t.dir} did not resume`);
            nResumed++;
          }
          assert(nResumed >= 1, "no cancelled trial had a checkpoint");
          const events = (await Deno.readTextFile(`${out}/events.jsonl`)).trim().split("\n").map((l) =>
            JSON.parse(l)
          );
          // The follower reported the trials it saw finish and the cancelled ones; the re-run only the latter.
          const rerunEvents = events.slice(-lost.length);
          assert.deepEqual(rerunEvents.map((e) => e.dir).sort(), lost.map((t) => t.dir).sort());
          assert.deepEqual(rerunEvents.map((e) => e.status), Array(lost.length).fill("ok"));
        },
      );
    } finally {
      await stopCluster(c);
    }
    for (const f of ["slurmctld", "slurmd", "munged"]) {
      assert.equal(await Deno.stat(`${c.dir}/${f}.pid`).catch(() => null), null, `${f} stopped`);
    }
  },
});
