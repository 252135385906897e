/**
 * Probes: diagnostics measured during training (alignment exponents,
 * representational collapse, rescaler statistics, ...). A probe component's
 * `create(options)` returns a `Probe`; the trainer calls `measure` at step 0
 * and every `every` steps after the update, appends the numbers to
 * `<trial>/probes/<probe name>.csv`, and puts the last values into
 * result.json under `probes.<probe name>.<metric>` (so they reach the
 * sweep's results table as columns).
 */
import type { Network } from "../nn/network.ts";
import type { TrialConfig } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";
import { fromCSV } from "../core/csv.ts";

/** What a probe sees at a measurement. */
export interface ProbeContext {
  /** Optimizer steps done so far (0 = at initialization). */
  step: number;
  /** The network being trained, with its current parameters. */
  net: Network;
  /** The trial's resolved configuration. */
  trial: TrialConfig;
  /** A fixed probe batch (the first val window batch), int32 [B, T] row-major. */
  x: Int32Array;
  /** Next-token targets of `x` (x shifted by one), int32 [B, T] row-major. */
  y: Int32Array;
  /** Batch size: rows of `x` and `y`. */
  B: number;
  /** Sequence length: tokens per row. */
  T: number;
  /** The trial directory, for probes that write files of their own. */
  dir: string;
}

/** A diagnostic measured during training. */
export interface Probe {
  /** Measure every this many steps (and at step 0). */
  every: number;
  /** Scalar metrics by name; names become CSV columns. */
  measure(ctx: ProbeContext): Record<string, number> | Promise<Record<string, number>>;
  /** Frees anything held between measurements. */
  dispose?(): void;
}

declare module "../core/registry.ts" {
  interface Products {
    probe: Probe;
  }
}

/** Reads a probe table, `<trial>/probes/<probe name>.csv`: its header and numeric rows. */
export async function readProbeCSV(path: string): Promise<{ columns: string[]; rows: number[][] }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new DmodelError(
      `${path}: cannot read the probe table (was the probe listed in the trial's probes?)`,
    );
  }
  const { columns, rows } = fromCSV(text);
  return { columns, rows: rows.map((r) => columns.map((c) => Number(r[c]))) };
}
