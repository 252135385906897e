/**
 * Sweep progress: on a TTY an overall bar (done / total, diverged, failed,
 * ETA) and one live line per worker; without a TTY plain periodic lines.
 */

/** A worker's live state. */
export interface WorkerLine {
  trial: string;
  step: number;
  steps: number;
  loss: number;
  tokens_per_s: number;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/** Renders progress to stderr. */
export class Progress {
  done = 0;
  diverged = 0;
  failed = 0;
  readonly workers = new Map<number, WorkerLine>();
  private readonly t0 = performance.now();
  private lastPlain = 0;
  private drawn = 0;
  private readonly tty: boolean;

  constructor(
    readonly total: number,
    readonly alreadyDone: number,
    readonly nWorkers: number,
    readonly plainEverySeconds = 30,
  ) {
    this.tty = Deno.stderr.isTerminal() && !Deno.env.get("CI");
    this.done = alreadyDone;
  }

  /** Summed cost (grid.ts trialCost) of the trials this run has to do; 0: count trials instead. */
  costLeft = 0;
  private costDone = 0;
  private readonly ran: { cost: number; wall: number }[] = [];

  /** Counts a finished trial, its cost and its wall time (seconds). */
  finished(cost = 0, wall = 0): void {
    this.done++;
    this.costDone += cost;
    if (cost > 0 && wall > 0) this.ran.push({ cost, wall });
  }

  /**
   * Expected seconds left. The cheapest trials run first, so a plain count
   * runs low: each trial left is weighted by its cost. Once finished trials
   * of two costs or more are known, their wall times fit seconds = a + b x cost
   * (least squares; a: the per-trial overhead), which predicts the trial-seconds
   * left; the ratio of elapsed to finished trial-seconds turns them into wall
   * time (workers in parallel). Before that: elapsed x cost left / cost done.
   */
  eta(): number {
    const ranHere = this.done - this.alreadyDone;
    if (ranHere <= 0) return NaN;
    const secs = (performance.now() - this.t0) / 1000;
    if (!(this.costLeft > 0 && this.costDone > 0)) return (secs / ranHere) * (this.total - this.done);
    const costRest = Math.max(0, this.costLeft - this.costDone), nRest = this.total - this.done;
    const r = this.ran, n = r.length;
    if (n >= 2 && r.some((x) => x.cost !== r[0].cost)) {
      const mc = r.reduce((s, x) => s + x.cost, 0) / n, mw = r.reduce((s, x) => s + x.wall, 0) / n;
      const cov = r.reduce((s, x) => s + (x.cost - mc) * (x.wall - mw), 0);
      const varc = r.reduce((s, x) => s + (x.cost - mc) ** 2, 0);
      let b = Math.max(0, cov / varc), a = mw - b * mc;
      if (a < 0) a = 0, b = mw / mc; // no negative overhead: proportional to cost
      return (secs * (a * nRest + b * costRest)) / (n * mw);
    }
    return (secs * costRest) / this.costDone;
  }

  /** The overall line. */
  summary(): string {
    const width = 30;
    const frac = this.total ? this.done / this.total : 1;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, "-");
    return `[${bar}] ${this.done}/${this.total} trials, ${this.diverged} diverged, ${this.failed} failed, ` +
      `elapsed ${duration((performance.now() - this.t0) / 1000)}, ETA ${duration(this.eta())}`;
  }

  private workerText(i: number, w: WorkerLine): string {
    return `  worker ${i}: ${w.trial} step ${w.step}/${w.steps} loss ${w.loss.toFixed(3)} ${
      Math.round(w.tokens_per_s)
    } tok/s`;
  }

  /** Redraws (TTY) or prints a plain line when due (or forced). */
  render(force = false): void {
    const enc = new TextEncoder();
    if (this.tty) {
      const lines = [this.summary(), ...[...this.workers].map(([i, w]) => this.workerText(i, w))];
      let out = this.drawn ? `\x1b[${this.drawn}F` : "";
      out += lines.map((l) => `\x1b[2K${l}`).join("\n") + "\n";
      Deno.stderr.writeSync(enc.encode(out));
      this.drawn = lines.length;
      return;
    }
    const now = performance.now();
    if (force || now - this.lastPlain > this.plainEverySeconds * 1000) {
      this.lastPlain = now;
      Deno.stderr.writeSync(enc.encode(`sweep: ${this.summary()}\n`));
    }
  }

  /** Prints a line above the live block (a finished trial, a notice). */
  note(line: string): void {
    const enc = new TextEncoder();
    if (this.tty && this.drawn) {
      Deno.stderr.writeSync(enc.encode(`\x1b[${this.drawn}F\x1b[0J`));
      this.drawn = 0;
    }
    Deno.stderr.writeSync(enc.encode(line + "\n"));
    this.render();
  }
}
