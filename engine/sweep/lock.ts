/**
 * One sweep per runs directory at a time: `<dir>/sweep.lock` holds the
 * owner's host, pid and process start time (`/proc/<pid>/stat` field 22,
 * with the boot id), so that a pid the kernel has since given to another
 * process is recognised as stale.
 *
 * Taking the lock is one create-exclusive step: the owner's record is written
 * to a temporary file first and then hard-linked to `sweep.lock` (link fails
 * when the name exists), so a reader never sees a lock half written. Taking
 * over a stale lock (read it, judge it, remove it, link our own) is done
 * holding an flock on the directory, so two sweeps cannot both judge the
 * same stale lock and each remove the other's new one. The flock is released
 * by the kernel when its holder dies; it guards only these few file
 * operations, never the sweep.
 */
import { DmodelError } from "../core/errors.ts";
import { readJSON } from "../core/fs.ts";

interface LockInfo {
  pid: number;
  host: string;
  /** The owner's start time in clock ticks after boot (`/proc/<pid>/stat` field 22); absent in old locks. */
  start_ticks?: string;
  /** `/proc/sys/kernel/random/boot_id`: start ticks count from this boot. */
  boot_id?: string;
  started: string;
  command: string;
}

/** True when a process with this pid is alive on this machine (and is not a zombie). */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * The start time of a live process in clock ticks after boot (`/proc/<pid>/stat`
 * field 22, counted after the command name, which may hold spaces and parentheses),
 * or null when there is no such process (or a zombie).
 */
export function processStartTicks(pid: number): string | null {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // Fields 3.. follow the last ")": state is field 3, starttime field 22.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return rest[0] === "Z" ? null : rest[22 - 3] ?? null;
}

function bootId(): string {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return "";
  }
}

/** This process's command line as typed (`deno run -A tasks/sweep.ts my.yaml`), for the lock's message. */
export function commandLine(): string {
  try {
    const argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0").filter((a) => a.length);
    if (argv.length) {
      return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
    }
  } catch { /* not Linux */ }
  return [Deno.execPath(), Deno.mainModule, ...Deno.args].join(" ");
}

/** This process's lock record. */
function myLock(): LockInfo {
  return {
    pid: Deno.pid,
    host: Deno.hostname(),
    start_ticks: processStartTicks(Deno.pid) ?? undefined,
    boot_id: bootId() || undefined,
    started: new Date().toISOString(),
    command: commandLine(),
  };
}

/** True when this lock record is ours (our pid, and our start time where the record has one). */
function isMine(l: LockInfo | null): boolean {
  return l?.pid === Deno.pid &&
    (l.start_ticks === undefined || l.start_ticks === processStartTicks(Deno.pid));
}

/**
 * Why the owner of a lock on this host is gone (a reason for the takeover
 * notice), or null while it runs. A lock without a start time (an older
 * dmodel) is judged by its pid alone.
 */
export function staleReason(l: LockInfo): string | null {
  if (l.start_ticks === undefined) return processAlive(l.pid) ? null : `pid ${l.pid} is gone`;
  if (l.boot_id && l.boot_id !== bootId()) return "the machine has restarted since";
  const now = processStartTicks(l.pid);
  if (now === null) return `pid ${l.pid} is gone`;
  return now === l.start_ticks ? null : `pid ${l.pid} now belongs to a process started later`;
}

/** Removes this process's lock at once (a second Ctrl-C exits without awaiting anything). */
export function releaseSync(dir: string): void {
  const path = `${dir}/sweep.lock`;
  try {
    if (isMine(JSON.parse(Deno.readTextFileSync(path)))) Deno.removeSync(path);
  } catch { /* gone already */ }
}

/** Creates `path` holding `info`, complete or not at all; false when it exists. */
async function createComplete(path: string, info: LockInfo): Promise<boolean> {
  const tmp = `${path}.${Deno.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(info));
  try {
    await Deno.link(tmp, path); // create-exclusive
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/** Holds an flock on the directory while `fn` runs (where the filesystem has none, runs `fn` as is). */
async function withDirGuard<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  let guard: Deno.FsFile | null = null;
  try {
    guard = await Deno.open(dir, { read: true });
    await guard.lock(true);
  } catch {
    guard?.close();
    guard = null;
  }
  try {
    return await fn();
  } finally {
    guard?.close(); // closing the file releases the flock
  }
}

/** Seconds after which a lock file that is not a lock record (damaged, or an old dmodel's half-written one) is stale. */
const UNREADABLE_STALE_S = 10;

/** Takes the lock or throws naming the running sweep. Returns a release function. */
export async function acquireLock(dir: string, log: (s: string) => void): Promise<() => Promise<void>> {
  const path = `${dir}/sweep.lock`;
  const me = myLock();
  const release = async () => {
    const cur = await readJSON<LockInfo>(path).catch(() => null);
    if (isMine(cur)) await Deno.remove(path).catch(() => {});
  };
  return await withDirGuard(dir, async () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (await createComplete(path, me)) return release;
      let other: LockInfo | null;
      try {
        other = await readJSON<LockInfo>(path);
      } catch {
        other = null; // not a lock record: judged by its age below
      }
      let reason: string | null;
      if (other && typeof other.pid === "number") {
        if (other.host !== me.host) {
          throw new DmodelError(
            `${dir}: locked by a sweep on host ${other.host} (pid ${other.pid}, started ${other.started}); ` +
              `remove ${path} if that sweep is gone`,
          );
        }
        reason = other.pid === Deno.pid ? `pid ${other.pid} is this process` : staleReason(other);
        if (reason === null) {
          throw new DmodelError(
            `${dir}: another sweep is running there (pid ${other.pid}, started ${other.started}: ${other.command}); ` +
              `wait for it or stop it (kill ${other.pid})`,
          );
        }
      } else {
        const st = await Deno.stat(path).catch(() => null);
        if (!st) continue; // released meanwhile: try again
        const age = (Date.now() - (st.mtime?.getTime() ?? 0)) / 1000;
        if (age < UNREADABLE_STALE_S) {
          // An older dmodel may be writing it right now: wait for it to be complete or old.
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        reason = `${path} holds no lock record and is ${Math.round(age)} s old`;
      }
      log(
        `${dir}: taking over a stale lock${
          other ? ` of pid ${other.pid} (started ${other.started})` : ""
        }: ${reason}`,
      );
      // Under the guard nobody else removes or replaces it between our read and this removal.
      await Deno.remove(path).catch(() => {});
    }
    throw new DmodelError(`${path}: could not take the sweep lock (another sweep may be starting there)`);
  });
}
