/**
 * One sweep per runs directory at a time: `<dir>/sweep.lock` holds the
 * owner's pid and start time. A lock whose process is gone (a killed sweep)
 * is stale and is taken over.
 */
import { DmodelError } from "../core/errors.ts";
import { readJSON } from "../core/fs.ts";

interface LockInfo {
  pid: number;
  host: string;
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

/** Removes this process's lock at once (a second Ctrl-C exits without awaiting anything). */
export function releaseSync(dir: string): void {
  const path = `${dir}/sweep.lock`;
  try {
    if (JSON.parse(Deno.readTextFileSync(path)).pid === Deno.pid) Deno.removeSync(path);
  } catch { /* gone already */ }
}

/** Takes the lock or throws naming the running sweep. Returns a release function. */
export async function acquireLock(dir: string, log: (s: string) => void): Promise<() => Promise<void>> {
  const path = `${dir}/sweep.lock`;
  const me: LockInfo = {
    pid: Deno.pid,
    host: Deno.hostname(),
    started: new Date().toISOString(),
    command: commandLine(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const f = await Deno.open(path, { write: true, createNew: true });
      await f.write(new TextEncoder().encode(JSON.stringify(me)));
      f.close();
      return async () => {
        const cur = await readJSON<LockInfo>(path).catch(() => null);
        if (cur?.pid === Deno.pid) await Deno.remove(path).catch(() => {});
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const other = await readJSON<LockInfo>(path).catch(() => null);
    if (other && other.host === me.host && processAlive(other.pid) && other.pid !== Deno.pid) {
      throw new DmodelError(
        `${dir}: another sweep is running there (pid ${other.pid}, started ${other.started}: ${other.command}); ` +
          `wait for it or stop it (kill ${other.pid})`,
      );
    }
    if (other && other.host !== me.host) {
      throw new DmodelError(
        `${dir}: locked by a sweep on host ${other.host} (pid ${other.pid}, started ${other.started}); ` +
          `remove ${path} if that sweep is gone`,
      );
    }
    log(`${dir}: taking over a stale lock${other ? ` of pid ${other.pid} (started ${other.started})` : ""}`);
    await Deno.remove(path).catch(() => {});
  }
  throw new DmodelError(`${path}: could not take the sweep lock`);
}
