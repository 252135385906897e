/**
 * Progress of one training run (`deno task train`): on a terminal a bar
 * redrawn in place, otherwise a plain line every few seconds and at the end.
 */

/** One progress report of the training loop. */
export interface StepReport {
  step: number;
  steps: number;
  train_loss: number;
  tokens_per_s: number;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const m = Math.floor(s / 60), sec = Math.round(s % 60);
  return m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/** Renders StepReports to stderr (or `write`). */
export class TrainProgress {
  private readonly t0 = performance.now();
  private last = -Infinity;
  private drawn = false;
  private firstStep: { step: number; t: number } | null = null;
  readonly tty: boolean;
  private readonly write: (s: string) => void;

  constructor(
    readonly label: string,
    o: { tty?: boolean; everySeconds?: number; write?: (s: string) => void } = {},
  ) {
    this.tty = o.tty ?? (Deno.stderr.isTerminal() && !Deno.env.get("CI"));
    this.everySeconds = o.everySeconds ?? 10;
    const enc = new TextEncoder();
    this.write = o.write ?? ((s) => Deno.stderr.writeSync(enc.encode(s)));
  }

  private readonly everySeconds: number;

  /** The text of one report: step, fraction, mean train loss, throughput, ETA. */
  text(r: StepReport): string {
    // Rate from the reports since the first (the first alone: as if the run began at step 0).
    const now = performance.now();
    const first = this.firstStep ??= { step: r.step, t: now };
    const [ran, secs] = r.step > first.step
      ? [r.step - first.step, (now - first.t) / 1000]
      : [r.step, (now - this.t0) / 1000];
    const eta = ran > 0 ? (secs / ran) * (r.steps - r.step) : NaN;
    return `step ${r.step}/${r.steps} (${Math.floor((100 * r.step) / r.steps)}%), loss ${
      r.train_loss.toFixed(3)
    }, ${Math.round(r.tokens_per_s)} tok/s, ETA ${r.step >= r.steps ? "0s" : duration(eta)}`;
  }

  /** Shows a report: redraws the bar (TTY), or prints a line when due (always at the last step). */
  update(r: StepReport): void {
    const text = this.text(r);
    if (this.tty) {
      const width = 24;
      const bar = "#".repeat(Math.round((r.step / r.steps) * width)).padEnd(width, "-");
      this.write(`\r\x1b[2K${this.label} [${bar}] ${text}`);
      this.drawn = true;
      if (r.step >= r.steps) this.end();
      return;
    }
    const now = performance.now();
    if (r.step >= r.steps || now - this.last >= this.everySeconds * 1000) {
      this.last = now;
      this.write(`${this.label}: ${text}\n`);
    }
  }

  /** Ends the bar's line (TTY), so that what follows starts on its own line. */
  end(): void {
    if (this.drawn) this.write("\n");
    this.drawn = false;
  }
}
