/**
 * report.html in real headless Chromium (Debian `chromium`, driven by
 * playwright-core from a file:// URL): no console errors, no network, every
 * figure rendered at a non-zero size, the verdicts present.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { analyzeSweep } from "../engine/analysis/analyze.ts";
import { writeReport } from "../engine/analysis/report.ts";
import { writeSyntheticSweep } from "./fixtures/synthetic_sweep.ts";

const CHROMIUM = Deno.env.get("DMODEL_CHROMIUM") ?? "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: hasChromium
    ? "report.html opens offline in headless Chromium: figures sized, verdicts shown, no errors"
    : "report.html in Chromium (skipped: no /usr/bin/chromium; enable with apt-get install -y chromium)",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "dmodel-report-" });
    const profile = await Deno.makeTempDir({ prefix: "dmodel-chromium-" });
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
      ],
    });
    try {
      await writeSyntheticSweep(dir, {
        widths: [64, 128, 256, 512],
        lrExps: [-10, -9, -8, -7, -6, -5, -4],
        seeds: [1, 2],
        families: [{ name: "sp", exponent: -1, log2Eta0: -6.5 }, {
          name: "nugpt",
          exponent: 0,
          log2Eta0: -6,
        }],
        divergeAbove: 1.5,
      });
      const a = await analyzeSweep(dir, { resamples: 100, predict: [{ width: 2048 }] });
      const path = await writeReport(a);
      const page = await browser.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(`file://${path}`, { waitUntil: "load" });

      assert.deepEqual(errors, []);
      const external = requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:"));
      assert.deepEqual(external, [], "the report must not fetch anything");

      const figs = await page.locator("figure img").all();
      assert.equal(figs.length, a.figures.length);
      assert.ok(figs.length >= 3);
      for (const img of figs) {
        const box = await img.boundingBox();
        // deno-lint-ignore no-explicit-any
        const natural = await img.evaluate((el: any) => [el.naturalWidth, el.naturalHeight]);
        const alt = await img.getAttribute("alt");
        assert.ok(box && box.width > 100 && box.height > 100, `${alt}: box ${JSON.stringify(box)}`);
        assert.ok(natural[0] > 0 && natural[1] > 0, `${alt}: the SVG did not decode (${natural})`);
      }

      const verdicts = await page.locator("li.verdict").allInnerTexts();
      assert.equal(verdicts.length, 2);
      assert.match(
        verdicts.find((v) => v.startsWith("sp:"))!,
        /eta\* moves by x2\^-1\.00 per doubling of width .*: drifts/,
      );
      assert.match(verdicts.find((v) => v.startsWith("nugpt:"))!, /: transfers/);
      assert.equal(await page.locator("li.verdict.drifts").count(), 1);
      const text = await page.locator("body").innerText();
      assert.match(text, /Optimal learning rate per group/);
      assert.match(text, /synthetic-width-transfer/, "the pipeline is shown");
      assert.equal(await page.locator("table.optima tbody tr").count(), 8);
      // The method, the paired comparison and the provenance are stated.
      assert.match(text, /Method\. Per family, one joint fit over every finished trial/);
      assert.match(text, /Cross-check, two-stage estimate/);
      // The plain answer opens the page, one paragraph per family, before the verdicts.
      const answers = await page.locator("section.answer p.verdict").allInnerTexts();
      assert.equal(answers.length, 2);
      assert.match(answers.find((v) => v.startsWith("sp."))!, /does not transfer .* Use LR .* at width=2048/);
      assert.ok(text.indexOf("Answer") < text.indexOf("Verdicts"));
      assert.match(text, /Tolerance: \|slope\| ≤ 0\.1/);
      assert.match(await page.locator("ul.comparisons").innerText(), /^nugpt - sp: slope difference \+/);
      const prov = await page.locator("dl.prov").innerText();
      assert.match(prov, /git commit\s+[0-9a-f]{40} \((clean|uncommitted changes)\)/);
      assert.match(prov, new RegExp(`Deno / V8 / TypeScript\\s+${Deno.version.deno.replaceAll(".", "\\.")}`));
      assert.match(prov, /TensorFlow\.js\s+4\.\d+\.\d+/);
      assert.match(prov, /total trial wall time\s+\d+\.\d s/);
      assert.match(prov, /CPU \(this machine\)\s+.+, \d+ cores/);
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(profile, { recursive: true });
    }
  },
});
