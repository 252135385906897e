/**
 * Fused tfjs ops for the normalized transformer.
 *
 * nGPT normalizes every hidden vector, q and k per head, and every block
 * output (REFERENCE.md §1, Norm(x) = x / ||x||_2 along the embedding axis).
 * Written as `x / tf.norm(x, 2, -1, true)`, tfjs runs Abs, Pow, Sum, Pow,
 * RealDiv forward and autodiff adds ~12 more kernels backward; the wasm `Pow`
 * kernel alone took a quarter of an nGPT step. {@link rowNormalize} computes
 * the same function with 4 kernels forward (Square, Sum, Rsqrt, Mul) and the
 * analytic gradient with 5 (Mul, Sum, Mul, Sub, Mul), all SIMD wasm kernels.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { rowNormalize } from "./fused_ops.ts";
 * rowNormalize(tf.tensor2d([[3, 4]])).print(); // [[0.6, 0.8]]
 * ```
 */
import * as tf from "@tensorflow/tfjs";

const rowNormalizeOp = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor, save = args[1] as tf.GradSaveFunc;
    // inv = 1 / ||x|| per row; y = x * inv.
    const inv = tf.rsqrt(tf.sum(tf.square(x), -1, true));
    const y = tf.mul(x, inv);
    save([y, inv]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [y, inv] = saved;
        // dy/dx = (I - y y^T) / ||x||, so dx = (dy - y * sum(y * dy)) / ||x||.
        const dot = tf.sum(tf.mul(y, dy), -1, true);
        return tf.mul(tf.sub(dy, tf.mul(y, dot)), inv);
      },
    };
  },
);

/**
 * Norm(x) = x / ||x||_2 along the last axis (nGPT, REFERENCE.md §1), with
 * the gradient dx = (dy - y * sum(y * dy)) / ||x||. Same values as
 * `tf.div(x, tf.norm(x, "euclidean", -1, true))` and, like it, no epsilon:
 * a zero row gives NaN.
 */
export function rowNormalize<T extends tf.Tensor>(x: T): T {
  if (x.dtype !== "float32") {
    throw new Error(`rowNormalize: expected a float32 tensor, got ${x.dtype}`);
  }
  if (x.rank < 1) {
    throw new Error(`rowNormalize: expected a tensor of rank >= 1, got a scalar`);
  }
  return rowNormalizeOp(x) as T;
}
