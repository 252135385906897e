/**
 * `deno task espa-diagnose [--depth 8] [--gamma 0.005] [--eta 0.9] [--mlp-aware] [--init orthogonal]
 *  [--seq-len 64] [--width 64] [--csv FILE]`
 *
 * Vanilla E-SPA at init on one validation batch of the Brown corpus (BPE 1024):
 * per layer, the attention matrix against A_l = L_l L_(l-1)^-1 and the token
 * kernel (mean cosine, second moment q) after each attention and MLP against
 * the target Sigma_l and the infinite-width prediction
 * (components/block/vanilla/diagnose.ts). Prints a markdown table; --csv writes it.
 */
import "../components/mod.ts";
import { parseTrial } from "../engine/core/config.ts";
import { DmodelError } from "../engine/core/errors.ts";
import { toCSV } from "../engine/core/csv.ts";
import { writeFileAtomic } from "../engine/core/fs.ts";
import { useBackend } from "../engine/kernels/backend.ts";
import { prepareData } from "../engine/data/prepare.ts";
import { evalBatches } from "../engine/data/batches.ts";
import { buildNetwork } from "../engine/nn/resolve.ts";
import { diagnoseEspa } from "../components/block/vanilla/diagnose.ts";
import { main, parse } from "./cli.ts";

const USAGE = "deno task espa-diagnose [--depth 8] [--gamma 0.005] [--eta 0.9] [--mlp-aware] " +
  "[--init orthogonal|normal] [--seq-len 64] [--width 64] [--csv FILE]";

function num(flag: string, v: string): number {
  const x = Number(v);
  if (!(x > 0)) throw new DmodelError(`--${flag} ${v}: expected a positive number`);
  return x;
}

if (import.meta.main) {
  await main(async () => {
    const { values } = parse(Deno.args, {
      depth: { type: "string", default: "8" },
      gamma: { type: "string", default: "0.005" },
      eta: { type: "string", default: "0.9" },
      "mlp-aware": { type: "boolean", default: false },
      init: { type: "string", default: "orthogonal" },
      "seq-len": { type: "string", default: "64" },
      width: { type: "string", default: "64" },
      csv: { type: "string" },
      help: { type: "boolean", short: "h" },
    }, USAGE);
    if (values.help) return console.error(`usage: ${USAGE}`);
    const depth = num("depth", values.depth), T = num("seq-len", values["seq-len"]);
    const width = num("width", values.width), B = 16;
    const block = {
      depth,
      gamma_final: num("gamma", values.gamma),
      tat_eta: num("eta", values.eta),
      mlp_aware: values["mlp-aware"],
    };
    const t = parseTrial({
      data: { corpus: "brown", tokenizer: { name: "bpe", vocab_size: 1024 }, seq_len: T },
      model: { block: "vanilla", width, head_dim: 16, attention: "espa", ...block },
      parameterization: { name: "vanilla", init: values.init },
      optimizer: { name: "adam", lr: 1e-3 },
      schedule: { name: "cosine" },
      train: { steps: 1, batch_size: B, seed: 0, backend: "wasm" },
    });
    await useBackend("wasm");
    const data = await prepareData(t.data);
    const net = buildNetwork(t, data.vocabSize);
    const x = evalBatches(data, 1, B, T)[0].x;
    const rows = diagnoseEspa(net, x, B, T, width, block);
    net.dispose();
    const f = (v: number) => v.toPrecision(3);
    console.log(
      `E-SPA at init: depth ${depth}, T ${T}, width ${width}, gamma_L ${block.gamma_final}, eta ${block.tat_eta}` +
        `${
          block.mlp_aware ? ", MLP-aware" : ""
        }, ${values.init} init; cos = mean token cosine, q = mean second moment`,
    );
    console.log(
      "| layer | γ_l | max abs(A − A_l) | target cos Σ_l | attn cos pred / meas | attn q pred / meas | " +
        "MLP cos pred / meas | MLP q pred / meas |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const r of rows) {
      console.log(
        `| ${r.layer} | ${f(r.gamma)} | ${r.attn_max_err.toExponential(1)} | ${f(r.target_cos)} | ` +
          `${f(r.pred_attn_cos)} / ${f(r.meas_attn_cos)} | ${f(r.pred_attn_q)} / ${f(r.meas_attn_q)} | ` +
          `${f(r.pred_mlp_cos)} / ${f(r.meas_mlp_cos)} | ${f(r.pred_mlp_q)} / ${f(r.meas_mlp_q)} |`,
      );
    }
    if (values.csv) await writeFileAtomic(values.csv, toCSV(rows as unknown as Record<string, unknown>[]));
  });
}
