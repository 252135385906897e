/** The executors' failure policy (components/executor/failures.ts): the streak that stops a sweep, the log path, a lost trial's result. */
import assert from "node:assert/strict";
import { FailureStreak, pointAtLog, writeLostResult } from "../components/executor/failures.ts";
import type { PlannedTrial } from "../engine/sweep/grid.ts";

const trial = (dir: string) => ({ dir }) as PlannedTrial;

Deno.test("failures: max_failures consecutive failures stop the sweep; any other status ends the streak", () => {
  const s = new FailureStreak(3);
  assert.deepEqual(["failed", "failed", "ok", "failed", "diverged"].map((x) => s.finished(x)), [
    false,
    false,
    false,
    false,
    false,
  ]);
  assert.deepEqual(["failed", "failed", "failed", "failed"].map((x) => s.finished(x)), [
    false,
    false,
    true,
    true,
  ]);
  assert.equal(
    s.stopMessage(trial("t4"), "boom"),
    "sweep stopped: 4 consecutive trials failed (max_failures 3); last: t4: boom",
  );
  assert.equal(
    s.stopMessage(trial("t4"), "boom", "cancelled Slurm job(s) 7"),
    "sweep stopped: 4 consecutive trials failed (max_failures 3); cancelled Slurm job(s) 7; last: t4: boom",
  );
  assert.equal(new FailureStreak(1).finished("failed"), true);
});

Deno.test("failures: a failed trial's error gets its log path once; other results are left as they are", async () => {
  const dir = await Deno.makeTempDir();
  const failed = { status: "failed", error: "bad input" };
  await pointAtLog(dir, failed, "/x/trial.log");
  assert.equal(failed.error, "bad input; log: /x/trial.log");
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/result.json`)), failed);
  await pointAtLog(dir, failed, "/y/other.log");
  assert.equal(failed.error, "bad input; log: /x/trial.log");
  const ok = { status: "ok", error: null };
  const other = await Deno.makeTempDir();
  await pointAtLog(other, ok, "/x/trial.log");
  assert.equal(ok.error, null);
  await assert.rejects(Deno.stat(`${other}/result.json`), Deno.errors.NotFound);
});

Deno.test("failures: a trial lost without a result gets a failed result.json with its cause and requeue", async () => {
  const dir = await Deno.makeTempDir();
  await writeLostResult(dir, "trial process killed by SIGKILL; log: l", true);
  const r = JSON.parse(await Deno.readTextFile(`${dir}/result.json`));
  assert.equal(r.status, "failed");
  assert.equal(r.error, "trial process killed by SIGKILL; log: l");
  assert.equal(r.requeue, true);
  assert.equal(r.final_val_loss, null);
});
