/**
 * Stages: the steps of a pipeline (data, train, sweep, eval, analyze, report, ...).
 * A stage component's `create(options)` returns a `Stage`; the pipeline runner
 * calls `run(ctx)` once its `needs:` have finished.
 */
import type { TrialConfig } from "./config.ts";

/** What a running stage sees. */
export interface StageContext {
  /** The pipeline's `name:` field. */
  pipelineName: string;
  /** The pipeline file's path ("" when built in code). */
  pipelineFile: string;
  /** Directory of the pipeline file, for resolving relative paths. */
  pipelineDir: string;
  /** Where this pipeline writes its runs (default `runs/<pipeline name>/`, or `--out`). */
  outDir: string;
  /** This stage's id in the pipeline. */
  stageId: string;
  /** What the stages this one `needs:` returned, by stage id, in `needs:` order (its only inputs). */
  inputs: Map<string, unknown>;
  /** Command-line flags that every stage may honour (resume, fresh, ...). */
  flags: Record<string, unknown>;
  /** The pipeline's `plugins:` as absolute paths: a stage that runs trials in other processes hands them on. */
  plugins?: string[];
  /** Progress and notices (stderr). */
  log: (line: string) => void;
}

/**
 * A model a stage will train, as `describe` and the load-time checks see it.
 * `vocabSize` is given when the data is not a corpus (a synthetic task):
 * then `trial.data` only carries the window length.
 */
export interface DescribedTrial {
  /** The trial's resolved configuration. */
  trial: TrialConfig;
  /** Vocabulary size V of a synthetic task; absent when it comes from the corpus and tokenizer. */
  vocabSize?: number;
}

/** A stage built from its `with:` options. */
export interface Stage {
  /** Runs the stage; what it returns becomes an input of the stages that `needs:` it. */
  run(ctx: StageContext): Promise<unknown>;
  /**
   * The trials this stage trains, first the one `describe` shows (optional:
   * without it a `with:` that is a trial config, or holds one as `base` or
   * `trials`, is found by its shape).
   */
  trials?(): DescribedTrial[];
}

declare module "./registry.ts" {
  interface Products {
    stage: Stage;
  }
}
