/**
 * Every relative link of the README and the pages under docs/ points to a file
 * that exists, and a `#fragment` to a heading of that page (GitHub's anchor
 * rule: lower case, punctuation dropped, spaces to hyphens; or an explicit
 * `<a id="...">`).
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The pages a reader moves between: README.md and docs/*.md. */
function pages(): string[] {
  const docs = [...Deno.readDirSync(join(root, "docs"))]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => join(root, "docs", e.name));
  return [join(root, "README.md"), ...docs.sort()];
}

/** Markdown links `[text](target)` outside fenced code blocks, with their line numbers. */
export function links(markdown: string): { line: number; target: string }[] {
  const found: { line: number; target: string }[] = [];
  let fenced = false;
  markdown.split("\n").forEach((text, i) => {
    if (/^\s*```/.test(text)) fenced = !fenced;
    if (fenced) return;
    const unquoted = text.replace(/`[^`]*`/g, "");
    for (const m of unquoted.matchAll(/\]\(([^)\s]+)\)/g)) found.push({ line: i + 1, target: m[1] });
  });
  return found;
}

/** GitHub's anchor of a heading. */
export function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const text of markdown.split("\n")) {
    if (/^\s*```/.test(text)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(text);
    if (m) out.add(anchor(m[1]));
    if (!fenced) { for (const a of text.matchAll(/<a id="([^"]+)">/g)) out.add(a[1]); }
  }
  return out;
}

Deno.test("docs links: the anchor rule matches GitHub's on a heading with code and punctuation", () => {
  assert.equal(
    anchor("Until the question is answered (`until_decided:`)"),
    "until-the-question-is-answered-until_decided",
  );
  assert.deepEqual(links("see [a](b.md#c) and `[x](y)`\n```\n[d](e)\n```"), [{ line: 1, target: "b.md#c" }]);
});

Deno.test("docs links: every relative link in README.md and docs/*.md resolves", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages()) {
    const text = Deno.readTextFileSync(page);
    for (const { line, target } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      checked++;
      const [path, fragment] = target.split("#");
      const file = path === "" ? page : join(dirname(page), decodeURIComponent(path));
      const where = `${relative(root, page)}:${line}: ${target}`;
      let isFile = false;
      try {
        isFile = Deno.statSync(file).isFile;
      } catch {
        broken.push(`${where} (no such file)`);
        continue;
      }
      if (fragment && isFile && file.endsWith(".md") && !anchors(Deno.readTextFileSync(file)).has(fragment)) {
        broken.push(`${where} (no heading "#${fragment}")`);
      }
    }
  }
  assert.ok(checked > 10, `only ${checked} relative links found: is the link pattern right?`);
  assert.deepEqual(broken, []);
});
