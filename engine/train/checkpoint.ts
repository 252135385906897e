/**
 * A trial's saved state: model.safetensors (the parameters by name, the
 * config as metadata) and checkpoint.safetensors (the parameters, the
 * optimizer's slots and the step, from which a trial resumes).
 */
import type { TrialConfig } from "../core/config.ts";
import { DmodelError } from "../core/errors.ts";
import { writeFileAtomic } from "../core/fs.ts";
import type { Network } from "../nn/network.ts";
import type { Optimizer } from "../nn/optim.ts";
import { decodeSafetensors, encodeSafetensors, type StoredTensor } from "../nn/safetensors.ts";

/** Parameters as safetensors tensors, named as the block declares them. */
function paramTensors(net: Network, prefix = ""): Record<string, StoredTensor> {
  const out: Record<string, StoredTensor> = {};
  for (const p of net.params) out[prefix + p.decl.name] = { dtype: "F32", shape: p.decl.shape, data: p.host };
  return out;
}

/** Writes model.safetensors: every parameter by name and shape, the config as metadata. */
export async function saveModel(
  path: string,
  net: Network,
  t: TrialConfig,
  extra: Record<string, string> = {},
) {
  await writeFileAtomic(
    path,
    encodeSafetensors(paramTensors(net), { format: "pt", dmodel_config: JSON.stringify(t), ...extra }),
  );
}

/** checkpoint.safetensors: parameters (`param.<name>`), the optimizer's slots (`<slot>.<name>`), the step. */
export async function saveCheckpoint(
  dir: string,
  net: Network,
  opt: Optimizer,
  step: number,
  t: TrialConfig,
) {
  const tensors = paramTensors(net, "param.");
  const state = opt.state();
  for (const p of net.params) {
    for (const [slot, arrays] of Object.entries(state.slots)) {
      tensors[`${slot}.${p.decl.name}`] = {
        dtype: "F32",
        shape: p.decl.shape,
        data: arrays.get(p.decl.name)!,
      };
    }
  }
  const meta = { step: String(step), adam_step: String(state.step), dmodel_config: JSON.stringify(t) };
  await writeFileAtomic(`${dir}/checkpoint.safetensors`, encodeSafetensors(tensors, meta));
}

/** Loads `<dir>/checkpoint.safetensors` into the network and optimizer; returns the step it was saved at. */
export async function loadCheckpoint(dir: string, net: Network, opt: Optimizer): Promise<number> {
  const path = `${dir}/checkpoint.safetensors`;
  const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path), path);
  const params: Record<string, { shape: number[]; data: Float32Array }> = {};
  const slots: Record<string, Map<string, Float32Array>> = {};
  for (const slot of Object.keys(opt.state().slots)) slots[slot] = new Map();
  for (const p of net.params) {
    const n = p.decl.name;
    const w = tensors[`param.${n}`];
    if (!w || Object.keys(slots).some((s) => !tensors[`${s}.${n}`])) {
      throw new DmodelError(`${path}: missing state of parameter ${n}`);
    }
    params[n] = { shape: w.shape, data: w.data as Float32Array };
    for (const [s, m] of Object.entries(slots)) m.set(n, tensors[`${s}.${n}`].data as Float32Array);
  }
  net.load(params, path);
  opt.load({ step: Number(metadata.adam_step), slots }, path);
  return Number(metadata.step);
}
