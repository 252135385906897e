/**
 * `tf.customGrad` with a typed, positional body: the fused ops of every
 * backend (./fused_ops.ts, ./fused_webgpu.ts) declare their value and
 * analytic gradient through it.
 */
import * as tf from "@tensorflow/tfjs";

// deno-lint-ignore no-explicit-any
type Grad = (dy: any, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** An op from `f(inputs, save) -> {value, gradFunc}`, differentiable through tfjs's tape. */
export function custom(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: Grad },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    return f(args as tf.Tensor[], save) as {
      value: tf.Tensor;
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
    };
  }) as (...inputs: tf.Tensor[]) => tf.Tensor;
}
