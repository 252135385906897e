/**
 * "Did you mean ...?" for unknown keys and names: the known word nearest a
 * typo by edit distance (Levenshtein, with an adjacent swap counted as one
 * edit, Damerau's optimal-string-alignment variant), when it is near enough
 * to be a typo rather than a different word.
 */
import type { z } from "zod";

/** Edit distance between a and b: insertions, deletions, substitutions and adjacent swaps cost 1. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const sub = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + sub);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The known word nearest `word`, or null when none is within a third of the
 * longer word's length (at least 1, at most 3 edits); case is ignored.
 *
 * @example
 * ```ts
 * nearest("stepss", ["steps", "seed"]); // "steps"
 * nearest("optimiser", ["optimizer", "model"]); // "optimizer"
 * ```
 */
export function nearest(word: string, known: Iterable<string>): string | null {
  let best: string | null = null, bestD = Infinity;
  for (const k of known) {
    if (k === word) continue;
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    const limit = Math.min(3, Math.max(1, Math.floor(Math.max(word.length, k.length) / 3)));
    if (d <= limit && d < bestD) best = k, bestD = d;
  }
  return best;
}

/** ` (did you mean "steps"?)`, or "" when nothing is near. */
export function didYouMean(word: string, known: Iterable<string>): string {
  const n = nearest(word, known);
  return n === null ? "" : ` (did you mean ${JSON.stringify(n)}?)`;
}

/** The object schema's fields inside wrappers (default, optional, nullable, pipe, transform), or null. */
export function objectShape(s: z.ZodType | undefined): Record<string, z.ZodType> | null {
  // deno-lint-ignore no-explicit-any
  let def: any = (s as any)?._zod?.def;
  for (let i = 0; def && i < 10; i++) {
    if (def.type === "object") return def.shape;
    const inner = def.innerType ?? def.in ?? def.schema;
    def = inner?._zod?.def;
  }
  return null;
}

/**
 * The keys a schema accepts at `path` (an object inside objects), or [] when
 * the path leads elsewhere (a record, a union): the candidates for "did you mean".
 */
export function schemaKeys(schema: z.ZodType | undefined, path: (string | number)[]): string[] {
  let shape = objectShape(schema);
  for (const k of path) {
    if (!shape) return [];
    shape = objectShape(shape[String(k)]);
  }
  return shape ? Object.keys(shape) : [];
}
