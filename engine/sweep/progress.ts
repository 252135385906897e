/**
 * Sweep progress: on a TTY an overall bar (done / total, diverged, failed,
 * ETA) and one live line per worker; without a TTY plain periodic lines.
 *
 * The ETA comes from measured seconds per step at each scale: every trial's
 * own step reports give its seconds per step, finished trials give the
 * per-trial overhead (start-up, data, evaluation), and a scale not yet
 * measured is interpolated from the measured ones in per-step cost (see
 * {@link Progress.eta}).
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

/** A trial still to finish, as `Progress.plan` gets it. */
export interface PlannedCost {
  dir: string;
  /** Relative cost of the whole trial (grid.ts trialCost). */
  cost: number;
  steps: number;
}

/** What is known of one trial's timing. */
interface Timing {
  start: number;
  first?: { step: number; t: number };
  last?: { step: number; t: number };
  step: number;
}

/** The worker lines, noting when each trial started and how fast its steps go. */
class WorkerMap extends Map<number, WorkerLine> {
  onSet?: (w: WorkerLine) => void;
  override set(k: number, v: WorkerLine): this {
    this.onSet?.(v);
    return super.set(k, v);
  }
}

/**
 * Exponent of seconds per step in per-step cost (tokens x parameters) used before two scales
 * are measured: 0.6, from this project's 2-core timings (a width-64 step of the main job costs
 * 5.9x a width-16 one in FLOPs and takes about 3x as long; small models are overhead-bound).
 */
const PRIOR_EXPONENT = 0.6;

/** Renders progress to stderr. */
export class Progress {
  done = 0;
  diverged = 0;
  failed = 0;
  readonly workers: Map<number, WorkerLine> = new WorkerMap();
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
    (this.workers as WorkerMap).onSet = (w) => this.observe(w);
  }

  /** The trials this run has to do, for the ETA by scale (without it: the cost-weighted count). */
  plan(todo: PlannedCost[]): void {
    for (const t of todo) this.todo.set(t.dir, t);
  }
  private readonly todo = new Map<string, PlannedCost>();
  private readonly timing = new Map<string, Timing>();
  private readonly measured: { perStep: number; steps: number; rate?: number; elapsed: number }[] = [];

  private observe(w: WorkerLine, now = performance.now()): void {
    let t = this.timing.get(w.trial);
    if (!t) this.timing.set(w.trial, t = { start: now, step: 0 });
    if (w.step > 0 && w.step !== t.step) {
      if (!t.first) t.first = { step: w.step, t: now };
      else t.last = { step: w.step, t: now };
      t.step = w.step;
    }
  }

  /**
   * Seconds per step of a trial from its own reports: between its first and last report, or with
   * one report from its start (start-up included: an overestimate); NaN before any.
   */
  private rate(t: Timing | undefined): number {
    if (t?.first && t.last) return (t.last.t - t.first.t) / 1000 / (t.last.step - t.first.step);
    return t?.first ? (t.first.t - t.start) / 1000 / t.first.step : NaN;
  }

  /** Summed cost (grid.ts trialCost) of the trials this run has to do; 0: count trials instead. */
  costLeft = 0;
  private costDone = 0;
  private readonly ran: { cost: number; wall: number }[] = [];

  /** Counts a finished trial, its cost and its wall time (seconds); `dir` ties it to `plan`. */
  finished(cost = 0, wall = 0, dir?: string): void {
    this.done++;
    this.costDone += cost;
    if (cost > 0 && wall > 0) this.ran.push({ cost, wall });
    const p = dir ? this.todo.get(dir) : undefined;
    if (!p) return;
    const t = this.timing.get(p.dir);
    const elapsed = t ? (performance.now() - t.start) / 1000 : wall;
    const r = this.rate(t);
    this.measured.push({
      perStep: p.cost / p.steps,
      steps: p.steps,
      elapsed,
      rate: Number.isFinite(r) ? r : undefined,
    });
    this.todo.delete(p.dir);
    this.timing.delete(p.dir);
  }

  /**
   * Expected seconds left from measured seconds per step by scale (a scale: the per-step cost
   * of a trial, grid.ts trialCost / steps). Each trial's rate comes from its own step reports;
   * a scale's rate is the mean over its trials, finished or running; a scale not yet measured
   * takes s(k) = s(k0) (k / k0)^p from the nearest measured one, p fitted on log-log over the
   * measured scales (PRIOR_EXPONENT until two are). A trial then costs overhead + steps x s(k),
   * the overhead (start-up, data, evaluation) measured on the finished trials; a running trial
   * only its steps left. The sum over the trials left is shared by the workers, and the ETA is
   * never below the longest single trial left. NaN before any step was measured.
   */
  private etaByScale(now = performance.now()): number {
    const rates = new Map<number, number[]>();
    const add = (k: number, r: number) =>
      Number.isFinite(r) && r > 0 && rates.set(k, [...(rates.get(k) ?? []), r]);
    for (const m of this.measured) add(m.perStep, m.rate ?? m.elapsed / m.steps);
    for (const [dir, t] of this.timing) {
      const p = this.todo.get(dir);
      if (p) add(p.cost / p.steps, this.rate(t));
    }
    if (!rates.size) return NaN;
    const known = [...rates].map(([k, r]) => ({ k, s: r.reduce((a, b) => a + b, 0) / r.length }));
    let p = PRIOR_EXPONENT;
    if (known.length >= 2) {
      const xs = known.map((q) => Math.log(q.k)), ys = known.map((q) => Math.log(q.s));
      const mx = xs.reduce((a, b) => a + b, 0) / xs.length, my = ys.reduce((a, b) => a + b, 0) / ys.length;
      const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
      const sxy = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0);
      p = Math.min(1.2, Math.max(0.2, sxy / sxx));
    }
    const perStep = (k: number) => {
      const near = known.reduce((a, q) => Math.abs(Math.log(q.k / k)) < Math.abs(Math.log(a.k / k)) ? q : a);
      return near.k === k ? near.s : near.s * (k / near.k) ** p;
    };
    const withRate = this.measured.filter((m) => m.rate !== undefined);
    const overhead = withRate.length
      ? withRate.reduce((a, m) => a + Math.max(0, m.elapsed - m.steps * m.rate!), 0) / withRate.length
      : 0;
    let sum = 0, longest = 0;
    for (const q of this.todo.values()) {
      const t = this.timing.get(q.dir), s = perStep(q.cost / q.steps);
      const left = t
        ? (q.steps - t.step) * s + Math.max(0, overhead - (now - t.start) / 1000 - t.step * s)
        : overhead + q.steps * s;
      sum += left;
      longest = Math.max(longest, left);
    }
    return Math.max(sum / Math.max(1, this.nWorkers), longest);
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
    if (this.total > 0 && this.done >= this.total) return 0;
    if (this.todo.size || this.measured.length) return this.etaByScale();
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

  /** One worker's live line. */
  workerText(i: number, w: WorkerLine): string {
    // Before its first measured step a trial has no loss or speed to show (not "loss NaN": that reads as divergence).
    if (w.step <= 0) return `  worker ${i}: ${w.trial} starting (${w.steps} steps)`;
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
