/** mod.ts is enough for a script that builds a network: it exports the backend choice (useBackend). */
import assert from "node:assert/strict";

async function runScript(backend: string): Promise<{ backend: string; loss: number; n_params: number }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tests/fixtures/network_script.ts", backend],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  return JSON.parse(new TextDecoder().decode(r.stdout).trim().split("\n").pop()!);
}

Deno.test("mod.ts: a script chooses a backend, builds an nGPT network and takes a loss", async () => {
  const [wasm, cpu] = [await runScript("wasm"), await runScript("cpu")];
  assert.equal(wasm.backend, "wasm");
  assert.equal(cpu.backend, "cpu");
  // nGPT, d = 32, L = 2, V = 256: embeddings 2Vd, s_z V, per layer 16 d^2 (attention 4 d^2, MLP 12 d^2)
  // and 11 d of rescalers (alpha_A, alpha_M, s_qk: d each; s_u, s_nu: 4d each).
  const d = 32, L = 2, V = 256;
  assert.equal(wasm.n_params, 2 * V * d + V + L * (16 * d * d + 11 * d));
  // At init the logits are small (|cos| <= 1 scaled by s_z), so the loss is near ln V.
  assert(Math.abs(wasm.loss - Math.log(V)) < 0.5, `loss ${wasm.loss}`);
  assert(Math.abs(wasm.loss - cpu.loss) < 1e-4, `wasm ${wasm.loss} vs cpu ${cpu.loss}`);
});
