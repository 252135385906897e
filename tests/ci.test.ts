/**
 * .ci/run under CI=true: a required package that is missing fails the run
 * and is named; a skipped (ignored) test fails it and is named; the closing
 * line stays "N passed, N failed, N skipped".
 */
import assert from "node:assert/strict";

async function ci(env: Record<string, string>) {
  const r = await new Deno.Command("bash", {
    args: [".ci/run"],
    env: { DMODEL_CI_APT: "0", ...env }, // never touch the system's packages from a test
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

Deno.test("ci: with CI=true a missing required package fails the run and is named", async () => {
  const r = await ci({ CI: "true", DMODEL_CI_EXTRA_PKGS: "dmodel-no-such-package" });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^ci: required package\(s\) missing: dmodel-no-such-package /m);
  assert.equal(r.stdout.trim(), "0 passed, 1 failed, 0 skipped");
  // Everything installed: the dependency checks pass.
  const ok = await ci({ CI: "true", DMODEL_CI_ONLY: "deps" });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /ci: dependencies: ok/);
});

Deno.test("ci: a skipped test is named; with CI=true it fails the run", async () => {
  const env = { DMODEL_CI_STATIC: "0", DMODEL_CI_TEST_ARGS: "tests/fixtures/ci_ignored.ts" };
  const strict = await ci({ ...env, CI: "true" });
  assert.equal(strict.code, 1, strict.stderr);
  assert.match(strict.stderr, /^ci: {3}ci fixture: a test that is skipped \.\.\. ignored/m);
  assert.match(strict.stderr, /^ci: failed: skipped-tests$/m);
  assert.equal(strict.stdout.trim().split("\n").pop(), "1 passed, 0 failed, 1 skipped");
  const lax = await ci({ ...env, CI: "" });
  assert.equal(lax.code, 0, lax.stderr);
  assert.equal(lax.stdout.trim().split("\n").pop(), "1 passed, 0 failed, 1 skipped");
});
