// Shared pieces of Signet's browser tests: Debian's chromium driven by playwright-core (no
// browser download), signing in, screenshots. Each script reads its settings from the
// SIGNET_E2E environment variable (JSON, written by the Rust test that started the server)
// and prints one JSON line of results last; any failure exits non-zero with the reason.
import { chromium } from "playwright-core";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

export const config = JSON.parse(process.env.SIGNET_E2E || "{}");

// The flags this machine's closed network needs (no background connections, no QUIC), and
// root's --no-sandbox. Playwright gives every launch a fresh, empty profile directory.
const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.SIGNET_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
  });
}

/** A new browser context (its own cookies and IndexedDB) that accepts downloads. */
export async function context(browser) {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  ctx.setDefaultTimeout(20000);
  return ctx;
}

/** Saves a full-page screenshot as SCREENSHOTS/name.png. */
export async function shot(page, name) {
  const dir = config.screenshots;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

// axe-core (Deque's accessibility rules engine) checks each page against WCAG 2 A/AA:
// labels, names, contrast, landmarks, ARIA use. It is evaluated through the DevTools
// protocol, so the page's CSP stays as strict as it is for users.
const AXE = fs.readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Fails on any serious or critical WCAG 2 A/AA violation on the page; returns the count of
 *  minor and moderate ones. */
export async function a11y(page, name) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    globalThis.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length > 0) {
    const details = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
    throw new Error(`accessibility violations on ${name}:\n  ${details.join("\n  ")}`);
  }
  return result.violations.length;
}

/** Signs in with an API token through the sign-in form. */
export async function signIn(page, token, next = "/") {
  await page.goto(`${config.url}/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel("API token").fill(token);
  await page.locator("#signin-token button[type=submit]").click();
  await page.waitForLoadState("load");
}

/** Runs a download-triggering action and saves the file under config.out as `name`. */
export async function saveDownload(page, name, action) {
  const [dl] = await Promise.all([page.waitForEvent("download"), action()]);
  const file = path.join(config.out, name);
  await dl.saveAs(file);
  return file;
}

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Runs `body(browser)`, prints its result as the last JSON line, exits 1 on failure. */
export async function main(body) {
  const browser = await launch();
  try {
    const result = await body(browser);
    console.log(JSON.stringify(result ?? {}));
  } catch (err) {
    console.error(`browser test failed: ${err.stack || err}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
