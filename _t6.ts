import "./components/mod.ts";
import { useBackend } from "./engine/kernels/backend.ts";
import { timeFusedOps } from "./engine/train/webgpu_decide.ts";
await useBackend("webgpu");
const [N, T, d, dk, V, reps] = Deno.args.map(Number);
for (const t of await timeFusedOps({ tokens: N, seq: T, width: d, headDim: dk, vocab: V, reps })) {
  console.log(JSON.stringify(t));
}
