/**
 * Paths from untrusted input (a pipeline's `name:`, `--out`, a sweep's
 * directories): each is checked before anything is written, so that a
 * hostile or mistaken value can neither write outside the place meant for
 * it nor break the permission flags of the trial processes (Deno splits
 * `--allow-write=a,b` on commas, with no escape).
 */
import { dirname, resolve as resolvePath } from "node:path";
import { DmodelError, show } from "./errors.ts";

/**
 * Why `name` is not a single safe path component (null when it is): not
 * empty, not `.` or `..`, no `/`, no comma, only letters, digits, `.`, `_`, `-`
 * (and `=` where `allowEquals`: trial folders carry `key=value` parts; Deno's
 * permission flags split only on commas, so `=` passes through them).
 */
export function componentProblem(name: string, allowEquals = false): string | null {
  if (name === "") return "an empty name";
  if (name === "." || name === "..") {
    return `runs/${name} would not be a directory of its own; use a plain name`;
  }
  const safe = allowEquals ? /^[A-Za-z0-9._=-]+$/ : /^[A-Za-z0-9._-]+$/;
  if (!safe.test(name)) return `use letters, digits, '.', '_'${allowEquals ? ", '='" : ""} and '-' only`;
  return null;
}

/** Why `path` cannot be carried by a Deno permission flag (null when it can): a comma splits the list. */
export function flagPathProblem(path: string): string | null {
  return path.includes(",")
    ? "contains a comma, which Deno's permission flags (--allow-write=a,b) cannot carry; choose a path without one"
    : null;
}

/**
 * Checks an output directory given by the user (`--out`) before anything is
 * written: not empty (an unset shell variable), not the filesystem root,
 * not an existing file, carried by the permission flags. Throws a one-line
 * error naming `label` and the value.
 */
export function checkOutDir(out: string, label = "--out"): void {
  const fail = (why: string) => {
    throw new DmodelError(`${label} ${show(out)}: ${why}`);
  };
  if (out.trim() === "") fail("an empty path (an unset shell variable?); give a directory for the runs");
  const abs = resolvePath(out);
  if (dirname(abs) === abs) fail("the filesystem root; give a directory below it");
  const comma = flagPathProblem(abs);
  if (comma) fail(comma);
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(abs);
  } catch { /* absent: created later */ }
  if (info && !info.isDirectory) fail("an existing file, not a directory");
}

/**
 * Refuses a directory whose real path (symbolic links followed) is not where
 * its name says: `dir` must resolve to `realRoot`/`rel` exactly. A link
 * placed in a sweep directory would otherwise send a trial's checkpoint and
 * metrics elsewhere (Deno's permission checks look at the name, not the link's
 * target). Absent directories pass (they are created plainly later).
 */
export function checkRealDir(dir: string, expected: string, what: string): void {
  let real: string;
  try {
    real = Deno.realPathSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      // A dangling link is a link all the same.
      try {
        if (Deno.lstatSync(dir).isSymlink) {
          throw new DmodelError(`${what} ${dir}: a symbolic link (to ${Deno.readLinkSync(dir)}); refused`);
        }
      } catch (e2) {
        if (e2 instanceof DmodelError) throw e2;
      }
      return;
    }
    throw e;
  }
  if (real !== expected) {
    throw new DmodelError(
      `${what} ${dir}: its real path ${real} is outside ${expected} (a symbolic link?); refused`,
    );
  }
}

/**
 * Checks a trial's directory before a trial process writes into it: a single
 * safe name, its real path right inside the sweep's, no symbolic link in it,
 * and the sweep's events.jsonl not a link either (the trial appends to it).
 * Deno's `--allow-write` checks the path's name, not where a link points.
 */
export function checkTrialDir(sweepDir: string, trialDir: string): void {
  const problem = componentProblem(trialDir, true);
  if (problem) throw new DmodelError(`trial directory ${show(trialDir)} in ${sweepDir}: ${problem}`);
  const root = Deno.realPathSync(sweepDir);
  const dir = `${sweepDir}/${trialDir}`;
  checkRealDir(dir, `${root}/${trialDir}`, "trial directory");
  const refuse = (path: string) => {
    throw new DmodelError(`${path}: a symbolic link (to ${Deno.readLinkSync(path)}); refused`);
  };
  try {
    for (const e of Deno.readDirSync(dir)) if (e.isSymlink) refuse(`${dir}/${e.name}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    if (Deno.lstatSync(`${sweepDir}/events.jsonl`).isSymlink) refuse(`${sweepDir}/events.jsonl`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
