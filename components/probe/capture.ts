/** Shared by the probes: run the network on the probe batch and copy chosen activations to the host. */
import * as tf from "@tensorflow/tfjs";
import type { Network } from "../../engine/nn/network.ts";

/** An activation copied off the device. */
export interface Captured {
  data: Float32Array;
  shape: number[];
}

/**
 * Forward pass on the first `sequences` rows of the probe batch x [B, T]
 * (no gradient), keeping a host copy of every sink tensor whose name passes `want`.
 */
export function capture(
  net: Network,
  x: Int32Array,
  batch: number,
  seqLen: number,
  sequences: number,
  want: (name: string) => boolean,
): Map<string, Captured> {
  const b = Math.max(1, Math.min(batch, sequences));
  const out = new Map<string, Captured>();
  tf.tidy(() => {
    const tokens = tf.tensor2d(x.subarray(0, b * seqLen), [b, seqLen], "int32");
    net.logits(tokens, (name, t) => {
      if (want(name)) {
        out.set(name, { data: Float32Array.from(t.dataSync() as Float32Array), shape: t.shape });
      }
    });
  });
  return out;
}
