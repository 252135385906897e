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

  /** Counts a finished trial and its cost. */
  finished(cost = 0): void {
    this.done++;
    this.costDone += cost;
  }

  /**
   * Expected seconds left, from the trials finished in this run, weighted by
   * their cost (the cheapest run first, so a plain count runs low).
   */
  eta(): number {
    const ranHere = this.done - this.alreadyDone;
    if (ranHere <= 0) return NaN;
    const secs = (performance.now() - this.t0) / 1000;
    if (this.costLeft > 0 && this.costDone > 0) {
      return (secs * Math.max(0, this.costLeft - this.costDone)) / this.costDone;
    }
    return (secs / ranHere) * (this.total - this.done);
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
