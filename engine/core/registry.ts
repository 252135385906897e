/**
 * The component registry: every swappable part of an experiment (tokenizer,
 * dataset, block, parameterization, optimizer, schedule, probe, backend,
 * stage, executor) registers itself here by kind and name, with an options
 * schema and a one-line description. Pipelines choose components by name.
 */
import { z } from "zod";
import { DmodelError, formatIssue, type Issue, zodIssues } from "./errors.ts";
import { didYouMean } from "./suggest.ts";

/** The kinds of component dmodel knows. */
export const KINDS = [
  "tokenizer",
  "dataset",
  "block",
  "parameterization",
  "optimizer",
  "schedule",
  "probe",
  "backend",
  "stage",
  "executor",
] as const;

/** One kind of component. */
export type Kind = typeof KINDS[number];

/** What a component registers: its options schema, a description, and its factory. */
// deno-lint-ignore no-explicit-any -- options are component-specific; each schema types its own.
export interface ComponentSpec<Options = any, Product = unknown> {
  /** zod schema of the options (the sibling fields of `name:` in a pipeline). */
  schema: z.ZodType<Options>;
  /** One line saying what the component is. */
  describe: string;
  /** Builds the component from validated options. */
  create: (options: Options) => Product;
}

/** A registered component: its spec plus kind and name. */
// deno-lint-ignore no-explicit-any -- as above.
export interface Registered<Options = any, Product = unknown> extends ComponentSpec<Options, Product> {
  /** Which kind of component it is. */
  kind: Kind;
  /** The name pipelines choose it by (`name:`). */
  name: string;
}

const table = new Map<Kind, Map<string, Registered>>();
for (const k of KINDS) table.set(k, new Map());

function kindTable(kind: string): Map<string, Registered> {
  const t = table.get(kind as Kind);
  if (!t) {
    throw new DmodelError(
      `unknown component kind ${JSON.stringify(kind)}; known kinds: ${KINDS.join(", ")}`,
    );
  }
  return t;
}

/**
 * Registers a component. Registering the same kind and name twice is an
 * error unless `replace` is set (plugins may override built-ins on purpose).
 */
export function register<O, P>(
  kind: Kind,
  name: string,
  spec: ComponentSpec<O, P>,
  replace = false,
): void {
  const t = kindTable(kind);
  if (t.has(name) && !replace) {
    throw new DmodelError(`${kind} ${JSON.stringify(name)} is already registered`);
  }
  t.set(name, { ...spec, kind, name } as Registered);
}

/** Looks up a component; unknown names fail with the list of known ones. */
// deno-lint-ignore no-explicit-any -- callers name the options type they expect.
export function resolve<O = any, P = unknown>(kind: Kind, name: string): Registered<O, P> {
  const t = kindTable(kind);
  const c = t.get(name);
  if (!c) {
    const known = [...t.keys()].sort().join(", ") || "(none)";
    throw new DmodelError(
      `unknown ${kind} ${JSON.stringify(name)}${didYouMean(name, t.keys())}; known: ${known}`,
    );
  }
  return c as Registered<O, P>;
}

/** True when a component of this kind and name is registered. */
export function has(kind: Kind, name: string): boolean {
  return kindTable(kind).has(name);
}

/** Every registered component, by kind then name (`sorted: false`: in registration order). */
export function listComponents(kind?: Kind, sorted = true): Registered[] {
  const kinds = kind ? [kind] : [...KINDS];
  return kinds.flatMap((k) => {
    const all = [...kindTable(k).values()];
    return sorted ? all.sort((a, b) => a.name.localeCompare(b.name)) : all;
  });
}

/** Validates options against a component's schema; returns the parsed options (defaults filled). */
export function parseOptions<O>(c: Registered<O>, options: unknown): O {
  return c.schema.parse(options);
}

/**
 * What each kind of component builds. Empty here: the layer that defines a
 * kind's product declares it (`declare module "../core/registry.ts" {
 * interface Products { optimizer: OptimizerFactory } }`), so {@link build}
 * returns that type.
 */
// deno-lint-ignore no-empty-interface
export interface Products {}

/** The product of a kind (unknown for a kind no layer declared). */
export type Product<K extends Kind> = K extends keyof Products ? Products[K] : unknown;

/** A component chosen in a config: its name and its options as sibling fields. */
export type Named = { name: string } & Record<string, unknown>;

/**
 * Builds a component from `{name, ...options}`: resolves the name, parses the
 * options with the component's schema (defaults filled) and creates it.
 * Errors are one line per problem, at the key path `at` (e.g.
 * `optimizer.lr: Too small: expected number to be >0 (value: 0)`).
 *
 * @example
 * ```ts
 * const opt = build("optimizer", { name: "adam", lr: 0.01 }); // an OptimizerFactory
 * ```
 */
export function build<K extends Kind>(kind: K, config: Named, at: (string | number)[] = [kind]): Product<K> {
  const { component, options } = parseNamed(kind, config, at);
  return component.create(options) as Product<K>;
}

/** The first half of {@link build}: the component a config names and its parsed options (nothing created). */
export function parseNamed(
  kind: Kind,
  config: Named,
  at: (string | number)[] = [kind],
): { component: Registered; options: Record<string, unknown> } {
  const { name, ...options } = config;
  const r = checkComponent(kind, name, options, at);
  if (!r.component) throw new DmodelError(r.issues.map((i) => formatIssue(null, null, i)).join("\n"));
  return { component: r.component, options: r.options };
}

/**
 * What {@link build} checks, as a list of problems instead of an error (a
 * pipeline reports them all, with line numbers): the component named `name`
 * (an unknown one is an issue at `nameAt`) and its options parsed by its
 * schema (issues at `at` + the option's path).
 */
export function checkComponent(
  kind: Kind,
  name: string,
  options: Record<string, unknown>,
  at: (string | number)[],
  nameAt: (string | number)[] = [...at, "name"],
): { component?: Registered; options: Record<string, unknown>; issues: Issue[] } {
  let component: Registered;
  try {
    component = resolve(kind, name);
  } catch (e) {
    return { options, issues: [{ path: nameAt, message: (e as Error).message, value: name }] };
  }
  const r = component.schema.safeParse(options);
  if (!r.success) return { options, issues: zodIssues(r.error, at, options, component.schema) };
  return { component, options: r.data as Record<string, unknown>, issues: [] };
}
