/**
 * Fault injection on tiny sweeps: a trial process killed by SIGKILL (what the
 * out-of-memory killer does), a full disk, a lost GPU device, damaged
 * result.json / state.json / checkpoint files, two sweeps racing for one
 * directory, stale locks (a dead pid, a pid the kernel gave to another
 * process, a lock file still being written), a failed trial and
 * --retry-failed, and a crash log whose last line is a stack frame. Each case
 * asserts the recovery or the exact one-line message.
 */
import assert from "node:assert/strict";
import { crashCause, outsideFault, signalDeath } from "../engine/train/faults.ts";
import { acquireLock } from "../engine/sweep/lock.ts";
import { sweepCommand, tinyCorpus, tinySweepYaml } from "./helpers.ts";

const corpus = await tinyCorpus();
const root = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

type Plan = { index: number; dir: string }[];

/** A sweep directory's plan, and one trial's result.json. */
const readPlan = async (out: string): Promise<Plan> =>
  JSON.parse(await Deno.readTextFile(`${out}/trials.json`));
const readResult = async (out: string, t: { dir: string }) =>
  JSON.parse(await Deno.readTextFile(`${out}/${t.dir}/result.json`));

/** Runs `deno task sweep FILE --out OUT ...extra` to the end: exit code, stdout, stderr. */
async function sweep(file: string, out: string, extra: string[] = [], env: Record<string, string> = {}) {
  const r = await sweepCommandWith(file, out, extra, env).output();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

function sweepCommandWith(
  file: string,
  out: string,
  extra: string[],
  env: Record<string, string>,
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}tasks/sweep.ts`, file, "--out", out, ...extra],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { CI: "true", ...env },
  });
}

/** A temp dir with the pipeline `s.yaml` (one tiny trial unless `o` says otherwise). */
async function setup(
  o: Parameters<typeof tinySweepYaml>[1] = {},
): Promise<{ file: string; out: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-faults-" });
  const file = `${dir}/s.yaml`;
  await Deno.writeTextFile(file, tinySweepYaml(corpus, { widths: "[16]", lrs: "[0.01]", ...o }));
  return { file, out: `${dir}/runs`, dir };
}

/** Waits (polling) until `cond` holds; fails after `s` seconds. */
async function until(cond: () => Promise<boolean>, what: string, s = 120): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    assert(Date.now() - t0 < s * 1000, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const present = (path: string) => Deno.stat(path).then(() => true, () => false);

/** Pids of live trial processes of the sweep in `out`. */
function trialPids(out: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (cmd.some((a) => a.endsWith("tasks/trial.ts")) && cmd.includes(out)) pids.push(Number(e.name));
    } catch { /* gone */ }
  }
  return pids;
}

/** The result fields that do not depend on timing. */
function measured(r: Record<string, unknown>) {
  const { wall_s: _w, tokens_per_s: _t, ...rest } = r;
  return rest;
}

Deno.test({
  name: "faults: a trial SIGKILLed mid-run (the OOM killer) is resumed from its checkpoint on the next run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { file, out, dir } = await setup({ steps: 200 });
    const child = sweepCommand(file, out).spawn();
    let plan: Plan = [];
    await until(async () => {
      plan = await readPlan(out).catch(() => []);
      return plan.length > 0 && (await present(`${out}/${plan[0].dir}/checkpoint.safetensors`));
    }, "a checkpoint");
    const [pid] = trialPids(out);
    assert(pid, "no trial process");
    Deno.kill(pid, "SIGKILL");
    const first = await child.output();
    assert.equal(first.code, 1, dec.decode(first.stderr));
    const t = plan[0];
    const log = `${out}/${t.dir}/trial.log`;
    const r = await readResult(out, t);
    assert.equal(r.status, "failed");
    assert.equal(r.requeue, true);
    assert.equal(
      r.error,
      "trial process killed by SIGKILL (exit code 137: the out-of-memory killer sends it, as does kill -9); " +
        `the next run of the sweep runs it again, from its checkpoint; log: ${log}`,
    );
    const status = await sweep(file, out, ["--status"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(
      status.stdout,
      `1/1 done (0 ok, 0 diverged, 1 failed), 0 partial, 0 pending\nfailed: ${t.dir}: ${r.error} ` +
        "[runs again on the next run]\n",
    );
    const rows = (await Deno.readTextFile(`${out}/${t.dir}/metrics.csv`)).trim().split("\n").slice(1);

    const again = await sweep(file, out);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stderr,
      new RegExp(
        `running again 1 trial\\(s\\) stopped from outside \\(killed, the scheduler, a full disk, ` +
          `a lost device\\): ${t.dir}\n`,
      ),
    );
    assert.match(await Deno.readTextFile(log), /resumed .* at step [1-9]\d*\n/);
    const resumed = await readResult(out, t);
    assert.equal(resumed.status, "ok");
    const final = (await Deno.readTextFile(`${out}/${t.dir}/metrics.csv`)).trim().split("\n").slice(1);
    assert.equal(final.length, 201, "one row per step");
    for (const row of rows.filter((r) => r.split(",").length === 6)) {
      assert(final.some((f) => f.split(",").slice(0, 3).join() === row.split(",").slice(0, 3).join()), row);
    }
    // The same trial without a kill: the resumed one ends identically.
    const whole = await sweep(file, `${dir}/whole`);
    assert.equal(whole.code, 0, whole.stderr);
    assert.deepEqual(measured(resumed), { ...measured(await readResult(`${dir}/whole`, t)) });
  },
});

Deno.test({
  name:
    "faults: a truncated or empty result.json of a finished trial is re-derived, never turned into failed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { file, out } = await setup({ lrs: "[0.01, 0.02]" });
    assert.equal((await sweep(file, out)).code, 0);
    const [a, b] = await readPlan(out);
    const [ra, rb] = [await readResult(out, a), await readResult(out, b)];
    const text = await Deno.readTextFile(`${out}/${a.dir}/result.json`);
    await Deno.writeTextFile(`${out}/${a.dir}/result.json`, text.slice(0, 40)); // cut mid-string
    await Deno.writeTextFile(`${out}/${b.dir}/result.json`, "");
    const status = await sweep(file, out, ["--status"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(
      status.stdout,
      "0/2 done (0 ok, 0 diverged, 0 failed), 2 partial, 0 pending\n" +
        `unreadable: ${a.dir}/result.json (malformed JSON: Unterminated string in JSON at position 40 ` +
        `(line 4 column 6)): the next run runs the trial again\n` +
        `unreadable: ${b.dir}/result.json (malformed JSON: Unexpected end of JSON input): the next run runs ` +
        "the trial again\n",
    );
    const again = await sweep(file, out);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /running again 2 trial\(s\) whose result\.json is unreadable: /);
    assert.match(again.stderr, /: 2\/2 done \(2 ok, 0 diverged, 0 failed\)/);
    // From the final checkpoint and state.json: the same result as before the damage.
    assert.deepEqual(measured(await readResult(out, a)), measured(ra));
    assert.deepEqual(measured(await readResult(out, b)), measured(rb));
  },
});

Deno.test({
  name: "faults: an empty state.json or a truncated checkpoint: the trial starts over and ends as it did",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { file, out } = await setup({ lrs: "[0.01, 0.02]" });
    assert.equal((await sweep(file, out)).code, 0);
    const [a, b] = await readPlan(out);
    const [ra, rb] = [await readResult(out, a), await readResult(out, b)];
    for (const t of [a, b]) await Deno.remove(`${out}/${t.dir}/result.json`); // both partial now
    await Deno.writeTextFile(`${out}/${a.dir}/state.json`, "");
    const ck = await Deno.readFile(`${out}/${b.dir}/checkpoint.safetensors`);
    await Deno.writeFile(`${out}/${b.dir}/checkpoint.safetensors`, ck.subarray(0, ck.length >> 1));
    const again = await sweep(file, out);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      await Deno.readTextFile(`${out}/${a.dir}/trial.log`),
      new RegExp(
        `\n${out}/${a.dir}/state\\.json: unreadable \\(malformed JSON: Unexpected end of JSON input\\): ` +
          "starting the trial over\n",
      ),
    );
    assert.match(
      await Deno.readTextFile(`${out}/${b.dir}/trial.log`),
      new RegExp(`\n${out}/${b.dir}/checkpoint\\.safetensors: [^\n]*: starting the trial over\n`),
    );
    assert.deepEqual(measured(await readResult(out, a)), measured(ra));
    assert.deepEqual(measured(await readResult(out, b)), measured(rb));
  },
});

Deno.test({
  name: "faults: a trial that failed stays failed (listed by --status) until --retry-failed runs it again",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { file, out } = await setup({ lrs: "[0.01, 0.02]", steps: 4 });
    // Inside the sweep directory: a trial may read there (and not in the test's other folders).
    const marker = `${out}/fail-now`;
    await Deno.mkdir(out, { recursive: true });
    await Deno.writeTextFile(marker, "");
    const yaml = (await Deno.readTextFile(file))
      .replace("name: test-sweep", `name: test-sweep\nplugins: [${root}tests/fixtures/plugin_flaky.ts]`)
      .replace(
        "      grid:",
        `      grid:\n        schedule: [{name: cosine}, {name: fixture-flaky, fail_if: ${marker}}]`,
      );
    await Deno.writeTextFile(file, yaml);
    const first = await sweep(file, out);
    assert.equal(first.code, 1, first.stderr);
    const plan = await readPlan(out);
    const failed = [];
    for (const t of plan) if ((await readResult(out, t)).status === "failed") failed.push(t);
    assert.equal(failed.length, 2); // the two fixture-flaky trials
    const err = `fixture-flaky: ${marker} exists`;
    for (const t of failed) {
      const r = await readResult(out, t);
      assert.equal(r.error, `${err}; log: ${out}/${t.dir}/trial.log`);
      assert.equal(r.requeue, undefined);
    }
    const status = await sweep(file, out, ["--status"]);
    assert.equal(
      status.stdout,
      "4/4 done (2 ok, 0 diverged, 2 failed), 0 partial, 0 pending\n" +
        failed.map((t) => `failed: ${t.dir}: ${err}; log: ${out}/${t.dir}/trial.log\n`).join(""),
    );
    await Deno.remove(marker);
    const plain = await sweep(file, out);
    assert.equal(plain.code, 1, "a failed trial is not run again by itself");
    assert.match(plain.stderr, /4 trials, 4 already done, 0 to run/);
    const retry = await sweep(file, out, ["--retry-failed"]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(
      retry.stderr,
      new RegExp(
        `running again 2 trial\\(s\\) that failed \\(--retry-failed\\): ${
          failed.map((t) => t.dir).join(", ")
        }\n`,
      ),
    );
    assert.match(retry.stderr, /4 trials, 2 already done, 2 to run/);
    assert.match(retry.stderr, /: 4\/4 done \(4 ok, 0 diverged, 0 failed\)/);
  },
});

Deno.test({
  name: "faults: a lost GPU device stops a trial from outside; the next run resumes it from its checkpoint",
  ignore: !(await navigator.gpu?.requestAdapter()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { file, out } = await setup({ steps: 8 });
    await Deno.writeTextFile(
      file,
      (await Deno.readTextFile(file)).replace("backend: wasm", "backend: webgpu"),
    );
    // The device destroyed at the 6th step, after the checkpoint at step 4 (as a driver reset would).
    const lost = await sweep(file, out, [], { DMODEL_WEBGPU_LOSE_DEVICE_AT: "6" });
    assert.equal(lost.code, 1, lost.stderr);
    const [t] = await readPlan(out);
    const r = await readResult(out, t);
    assert.equal(r.status, "failed");
    assert.equal(r.requeue, true);
    assert.match(
      r.error,
      /^backend webgpu: the GPU device was lost mid-trial \(.*\) on .+ \(the GPU device was lost: the next run of the sweep runs this trial again, from its checkpoint\); log: .*trial\.log$/,
    );
    const again = await sweep(file, out);
    assert.equal(again.code, 0, again.stderr);
    assert.match(await Deno.readTextFile(`${out}/${t.dir}/trial.log`), /resumed .* at step [1-9]\d*\n/);
    assert.equal((await readResult(out, t)).status, "ok");
  },
});

/** True when this process may mount a tmpfs (root on Linux): the full-disk case needs a small disk. */
async function canMount(): Promise<boolean> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  const dir = await Deno.makeTempDir({ prefix: "dmodel-mount-" });
  try {
    const m = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir] })
      .output();
    if (m.code !== 0) return false;
    await new Deno.Command("umount", { args: [dir] }).output();
    return true;
  } catch {
    return false;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

Deno.test({
  name:
    "faults: a full disk stops a trial (or the sweep, with one line); with room again the next run resumes it",
  ignore: !(await canMount()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Long enough that the trial is still running when the disk fills (400 steps can finish first).
    const { file, dir } = await setup({ steps: 3000 });
    const disk = `${dir}/disk`;
    await Deno.mkdir(disk);
    const m = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk] })
      .output();
    assert.equal(m.code, 0, dec.decode(m.stderr));
    /**
     * Fills the small disk with `${disk}/filler-*` until at most `room` bytes (and under one 4 KiB
     * block more) are left; the running trial writes meanwhile, so a fill that no longer fits is
     * retried with what is left.
     */
    const fillDisk = async (room: number) => {
      for (let i = 0; i < 50; i++) {
        const df = await new Deno.Command("df", { args: ["-B1", "--output=avail", disk] }).output();
        const avail = Number(dec.decode(df.stdout).trim().split("\n")[1]);
        if (avail - room < 4096) return;
        await new Deno.Command("fallocate", { args: ["-l", String(avail - room), `${disk}/filler-${i}`] })
          .output();
      }
      throw new Error(`could not fill ${disk}`);
    };
    const emptyDisk = async () => {
      for await (const e of Deno.readDir(disk)) {
        if (e.name.startsWith("filler-")) await Deno.remove(`${disk}/${e.name}`);
      }
    };
    try {
      const out = `${disk}/runs`;
      const child = sweepCommand(file, out).spawn();
      let plan: Plan = [];
      await until(async () => {
        plan = await readPlan(out).catch(() => []);
        return plan.length > 0 && (await present(`${out}/${plan[0].dir}/checkpoint.safetensors`));
      }, "a checkpoint");
      // Fill the disk but for 64 KiB: the next checkpoint (150 KiB) no longer fits, a result still does.
      await fillDisk(65536);
      const first = await child.output();
      assert.equal(first.code, 1, dec.decode(first.stderr));
      const t = plan[0];
      const r = await readResult(out, t);
      assert.equal(r.status, "failed");
      assert.equal(r.requeue, true);
      assert.match(
        r.error,
        /^No space left on device \(os error 28\)[^;]* \(the disk is full: the next run of the sweep runs this trial again, from its checkpoint\); log: .*trial\.log$/,
      );
      await emptyDisk();
      const again = await sweep(file, out);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /running again 1 trial\(s\) stopped from outside/);
      assert.match(await Deno.readTextFile(`${out}/${t.dir}/trial.log`), /resumed .* at step [1-9]\d*\n/);
      assert.equal((await readResult(out, t)).status, "ok");

      // A disk with no room at all, not even for a result: the sweep stops with one line, and resumes later.
      const out2 = `${disk}/runs2`;
      const child2 = sweepCommand(file, out2).spawn();
      await until(async () => {
        plan = await readPlan(out2).catch(() => []);
        return plan.length > 0 && (await present(`${out2}/${plan[0].dir}/checkpoint.safetensors`));
      }, "a checkpoint");
      await fillDisk(0);
      const stopped = await child2.output();
      const err = dec.decode(stopped.stderr);
      assert.equal(stopped.code, 1, err);
      assert.doesNotMatch(err, /internal error|\n\s+at /);
      assert.match(
        err.trim().split("\n").at(-1)!,
        new RegExp(
          `^error: sweep ${out2} stopped: the disk is full \\(No space left on device \\(os error 28\\)[^\\n]*\\); ` +
            "make room and run the same command again: unfinished trials resume from their checkpoints$",
        ),
      );
      await emptyDisk();
      const again2 = await sweep(file, out2);
      assert.equal(again2.code, 0, again2.stderr);
      assert.match(
        await Deno.readTextFile(`${out2}/${plan[0].dir}/trial.log`),
        /resumed .* at step [1-9]\d*\n/,
      );
      assert.equal((await readResult(out2, plan[0])).status, "ok");
    } finally {
      await new Deno.Command("umount", { args: [disk] }).output();
    }
  },
});

/** Starts `n` processes that race for DIR's lock at the same instant; their outputs. */
async function raceForLock(dir: string, n: number): Promise<string[]> {
  const at = Date.now() + 3000; // after every process has started
  const procs = Array.from({ length: n }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}tests/fixtures/lock_race.ts`, dir, String(at), "1500"],
      stdout: "piped",
      stderr: "piped",
    }).output());
  return (await Promise.all(procs)).map((r) =>
    (dec.decode(r.stdout).trim() + "\n" + dec.decode(r.stderr)).trim()
  );
}

Deno.test("faults: sweeps racing for one directory: exactly one takes the lock, the others are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-race-" });
  const outs = await raceForLock(dir, 5);
  const got = outs.filter((o) => o.startsWith("got "));
  assert.equal(got.length, 1, outs.join("\n"));
  const pid = got[0].slice(4).split("\n")[0];
  for (const o of outs.filter((o) => !o.startsWith("got "))) {
    assert.match(
      o,
      new RegExp(
        `^refused: ${dir}: another sweep is running there \\(pid ${pid}, started [^:]+:\\d+:[^:]+: .*lock_race\\.ts ` +
          `${dir} \\d+ 1500\\); wait for it or stop it \\(kill ${pid}\\)$`,
      ),
    );
  }
  await assert.rejects(Deno.stat(`${dir}/sweep.lock`), Deno.errors.NotFound); // released
});

Deno.test("faults: racing for a stale lock (its sweep was killed): exactly one takes it over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-race-" });
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const lock = { pid: dead.pid, host: Deno.hostname(), start_ticks: "1", started: "then", command: "x" };
  await Deno.writeTextFile(`${dir}/sweep.lock`, JSON.stringify(lock));
  const outs = await raceForLock(dir, 5);
  assert.equal(outs.filter((o) => o.startsWith("got ")).length, 1, outs.join("\n"));
  const takeovers = outs.filter((o) => o.includes("taking over"));
  assert.equal(takeovers.length, 1, outs.join("\n"));
  assert.match(
    takeovers[0],
    new RegExp(
      `\n${dir}: taking over a stale lock of pid ${dead.pid} \\(started then\\): pid ${dead.pid} is gone$`,
    ),
  );
});

Deno.test("faults: a lock whose pid now belongs to another process is stale; one being written is not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dmodel-lock-" });
  const other = new Deno.Command("sleep", { args: ["30"] }).spawn(); // alive, but not the lock's owner
  try {
    const notes: string[] = [];
    const lock = { pid: other.pid, host: Deno.hostname(), start_ticks: "1", started: "then", command: "x" };
    await Deno.writeTextFile(`${dir}/sweep.lock`, JSON.stringify(lock));
    const release = await acquireLock(dir, (l) => notes.push(l));
    assert.deepEqual(notes, [
      `${dir}: taking over a stale lock of pid ${other.pid} (started then): pid ${other.pid} now belongs to a ` +
      "process started later",
    ]);
    await release();
    // A lock file an older dmodel is still writing (created empty, filled a moment later) is waited for.
    await Deno.writeTextFile(`${dir}/sweep.lock`, "");
    const legacy = { pid: other.pid, host: Deno.hostname(), started: "now", command: "deno task sweep" };
    setTimeout(() => Deno.writeTextFileSync(`${dir}/sweep.lock`, JSON.stringify(legacy)), 1000);
    await assert.rejects(
      acquireLock(dir, (l) => notes.push(l)),
      new RegExp(`another sweep is running there \\(pid ${other.pid}, started now: deno task sweep\\)`),
    );
    // An unreadable lock file left long ago is stale.
    await Deno.writeTextFile(`${dir}/sweep.lock`, "{");
    await Deno.utime(`${dir}/sweep.lock`, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    notes.length = 0;
    await (await acquireLock(dir, (l) => notes.push(l)))();
    assert.match(
      notes[0],
      new RegExp(
        `^${dir}: taking over a stale lock: ${dir}/sweep\\.lock holds no lock record and is 6\\d s old$`,
      ),
    );
  } finally {
    other.kill("SIGKILL");
    await other.status;
  }
});

Deno.test("faults: a crash's cause is its error line, not the stack frame the log ends with", async () => {
  // Real logs of dying Deno processes: an uncaught error, and dmodel's `internal error:`.
  const die = async (code: string) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    return dec.decode(r.stderr);
  };
  const uncaught = await die(`function f() { throw new TypeError("boom"); } console.error("step 3"); f();`);
  assert.match(uncaught.trim(), /\n\s+at /, "the log ends with stack frames");
  assert.equal(crashCause(uncaught), "TypeError: boom");
  const internal = await die(`try { null.x } catch (e) { console.error("internal error: " + e.stack); }`);
  assert.equal(crashCause(internal), "TypeError: Cannot read properties of null (reading 'x')");
  assert.equal(
    crashCause("loading\nerror: s.yaml:3: model.width: expected a number\n"),
    "s.yaml:3: model.width: expected a number",
  );
  assert.equal(crashCause(""), "");
  assert.equal(signalDeath(143, null), "killed by SIGTERM (exit code 143: a scheduler or kill stopped it)");
  assert.equal(signalDeath(1, null), null);
  assert.equal(outsideFault("No space left on device (os error 28): write 'x'"), "the disk is full");
  assert.equal(outsideFault("model.width: expected a number"), null);
});
