/**
 * Small deterministic pseudo-random tools, identical on every machine: the
 * data split and the training batches depend only on these, never on
 * `Math.random`.
 */

/**
 * The mulberry32 generator: a 32-bit state, returns floats in [0, 1).
 *
 * @example
 * ```ts
 * const rand = mulberry32(42);
 * const u = rand(); // 0 <= u < 1, the same on every machine
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The splitmix32 finalizer: a bijective scramble of a 32-bit integer, used to
 * turn structured seeds (seed, step) into well-mixed generator states.
 *
 * @example
 * ```ts
 * const state = mix32(7); // an unsigned 32-bit integer
 * ```
 */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Combines several integers (seed, step, ...) into one 32-bit seed; the
 * result depends on every argument and on their order.
 *
 * @example
 * ```ts
 * const rand = mulberry32(combineSeeds(1234, 17)); // batch 17 of seed 1234
 * ```
 */
export function combineSeeds(...parts: number[]): number {
  let h = 0x243f6a88;
  for (const p of parts) {
    // Fold values beyond 32 bits (steps, large seeds) in as two words.
    const lo = p >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    h = mix32(h ^ lo);
    h = mix32(h ^ hi);
  }
  return h;
}

/**
 * A 32-bit hash of a string (FNV-1a over its UTF-16 code units, then
 * scrambled by {@link mix32}). Not cryptographic.
 *
 * @example
 * ```ts
 * const h = hashString("brown"); // an unsigned 32-bit integer
 * ```
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h >>> 0);
}

/**
 * Shuffles an array in place (Fisher-Yates) with the given generator.
 *
 * @example
 * ```ts
 * const order = shuffleInPlace([0, 1, 2, 3], mulberry32(1));
 * ```
 */
export function shuffleInPlace<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = items[i];
    items[i] = items[j];
    items[j] = t;
  }
  return items;
}
