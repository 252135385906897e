/**
 * What a family is called wherever it is printed (analysis.md, the logs,
 * figure legends, the report): the values of its `by` keys, each as
 * `key=value` with the key's short name (`hidden_exponent=1`), except a
 * component's own name (`parameterization.name`, `model.block`), which names
 * itself (`nugpt`). Several keys join with "/": `nugpt/horizon_correction=false`.
 */

/** Keys whose value is a component's name and reads alone ("ngpt", not "name=ngpt"). */
function namesItself(key: string): boolean {
  return key === "name" || key.endsWith(".name") || key === "model.block";
}

/**
 * Short names of dotted keys: the last segment ("model.width" -> "width"),
 * or more segments where two keys would otherwise read the same
 * (["optimizer.eps", "parameterization.eps"] -> the whole paths).
 *
 * @example
 * ```ts
 * shortKeys(["parameterization.hidden_exponent"]); // ["hidden_exponent"]
 * ```
 */
export function shortKeys(keys: string[]): string[] {
  const parts = keys.map((k) => k.split("."));
  const out = parts.map((p) => p[p.length - 1]);
  for (let n = 2; new Set(out).size < out.length; n++) {
    const dup = out.map((s) => out.filter((t) => t === s).length > 1);
    let grew = false;
    parts.forEach((p, i) => {
      if (dup[i] && n <= p.length) out[i] = p.slice(-n).join("."), grew = true;
    });
    if (!grew) break;
  }
  return out;
}

/**
 * The family's name from its `by` keys and their values.
 *
 * @example
 * ```ts
 * familyName(["parameterization.hidden_exponent"], { "parameterization.hidden_exponent": 1 }); // "hidden_exponent=1"
 * familyName(["parameterization.name"], { "parameterization.name": "nugpt" }); // "nugpt"
 * ```
 */
export function familyName(by: string[], values: Record<string, unknown>): string {
  if (!by.length) return "all";
  const short = shortKeys(by);
  return by.map((k, i) => namesItself(k) ? String(values[k]) : `${short[i]}=${String(values[k])}`).join("/");
}

/**
 * The family's values alone joined by "/" ("1", "nugpt/false"): what seeds its
 * bootstrap draws, unchanged from before families were named `key=value`, so
 * that archived analyses reproduce their intervals exactly.
 */
export function familySeedKey(by: string[], values: Record<string, unknown>): string {
  return by.length ? by.map((k) => String(values[k])).join("/") : "all";
}

/** Short name of a dotted column: "model.width" -> "width". */
export function shortName(col: string): string {
  const i = col.lastIndexOf(".");
  return i < 0 ? col : col.slice(i + 1);
}

/** "256" for one axis, "width=256, depth=4" for several. */
export function scaleLabel(scale: Record<string, number>): string {
  const axes = Object.keys(scale);
  if (axes.length === 1) return String(scale[axes[0]]);
  if (axes.length === 0) return "all";
  return axes.map((a) => `${shortName(a)}=${scale[a]}`).join(", ");
}

/** The groups of each family, in order of first appearance. */
export function groupsByFamily<G extends { family: string }>(groups: G[]): Map<string, G[]> {
  const families = new Map<string, G[]>();
  for (const g of groups) families.set(g.family, [...(families.get(g.family) ?? []), g]);
  return families;
}

/** A family's `by` keys with their values, read off one of its groups. */
export function familyKeys(
  by: string[],
  group: { keys: Record<string, string | number> },
): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const k of by) out[k] = group.keys[k];
  return out;
}
