// The enrollment pages in Chromium: sign in with a token, submit a pasted CSR and an uploaded
// one, generate keys in the browser (exportable with an encrypted PKCS#8 download, and
// non-extractable), download the certificate in every form and a PKCS#12, see a pending
// request, and check the session cookie, CSRF refusals, the console's refusal and sign-out.
import { config, main, context, shot, saveDownload, check, a11y } from "./lib.mjs";

const base = config.url;

async function expectRequestPage(page, status) {
  await page.waitForURL(/\/requests\/[^/]+\/\d+$/);
  const shown = (await page.locator("#status").textContent()).trim();
  check(shown === status, `request page shows ${shown}, expected ${status} (${page.url()})`);
  return Number(page.url().split("/").pop());
}

main(async (browser) => {
  const ctx = await context(browser);
  const page = await ctx.newPage();
  const problems = [];
  // Chromium logs the error statuses this test provokes on purpose (401, 400, 403) as
  // "Failed to load resource"; anything else (a CSP refusal, a script error) is a failure.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource: the server responded with a status of")) {
      problems.push(m.text());
    }
  });
  page.on("pageerror", (e) => problems.push(e.message));

  await page.goto(`${base}/`);
  await shot(page, "home");
  await a11y(page, "home");
  check(await page.getByRole("link", { name: "CRL" }).count() > 0, "the start page links the CRL");

  // Pages that need a session send the browser to sign in, and back afterwards.
  await page.goto(`${base}/enroll`);
  check(page.url().endsWith("/signin?next=%2Fenroll"), `redirected to ${page.url()}`);
  await shot(page, "signin");
  await a11y(page, "signin");
  await page.getByLabel("API token").fill("signet_not-a-token");
  await page.locator("#signin-token button[type=submit]").click();
  check((await page.locator(".notice.bad").textContent()).includes("not valid"), "a wrong token is refused");

  await page.getByLabel("API token").fill(config.requester);
  await page.locator("#signin-token button[type=submit]").click();
  await page.waitForURL(`${base}/enroll`);
  const cookie = (await ctx.cookies()).find((c) => c.name === "__Host-signet-session");
  check(cookie, "the session cookie is set");
  check(cookie.secure && cookie.httpOnly && cookie.sameSite === "Strict" && cookie.path === "/",
    `cookie flags: ${JSON.stringify(cookie)}`);

  // 1. A pasted CSR, issued at once; every download.
  await page.locator("#profile").selectOption("server");
  await page.locator("#csr").fill(config.csr_pem);
  await shot(page, "enroll");
  await a11y(page, "enroll");
  await page.locator("#submit-csr").click();
  const pasted = await expectRequestPage(page, "issued");
  await shot(page, "request-issued");
  await a11y(page, "request-issued");
  await saveDownload(page, "pasted.pem", () => page.locator("#dl-pem").click());
  await saveDownload(page, "pasted.der", () => page.locator("#dl-der").click());
  await saveDownload(page, "pasted-chain.pem", () => page.locator("#dl-chain").click());
  await saveDownload(page, "pasted.p7b", () => page.locator("#dl-p7b").click());
  check(await page.locator("#browser-key").isHidden(), "no browser key is offered for a pasted CSR");

  // 2. An uploaded DER request to the manual profile, with an attribute: pending.
  await page.goto(`${base}/enroll`);
  await page.locator("#csr-file").setInputFiles(config.csr_der_file);
  await page.waitForFunction(() => document.getElementById("csr").value.includes("BEGIN CERTIFICATE REQUEST"));
  await page.locator("#profile").selectOption("manual");
  await page.locator("#attributes").fill("ticket=CHG-4711");
  await page.locator("#submit-csr").click();
  const pending = await expectRequestPage(page, "pending");
  check(await page.getByRole("link", { name: "Check again" }).count() === 1, "a pending request can be checked again");
  await shot(page, "request-pending");
  await a11y(page, "request-pending");

  // A bad request keeps what was typed and says why.
  await page.goto(`${base}/enroll`);
  await page.locator("#csr").fill("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
  await page.locator("#attributes").fill("kept=yes");
  await page.locator("#submit-csr").click();
  check((await page.locator("#enroll-error").textContent()).length > 0, "a malformed CSR is explained");
  check((await page.locator("#attributes").inputValue()) === "kept=yes", "the form keeps its input");

  // 3. A key generated in the browser, exportable: the encrypted key is downloaded, the
  //    certificate issued, and a PKCS#12 built from the key this browser kept.
  await page.goto(`${base}/enroll`);
  await page.locator("#tab-keygen").click();
  await page.locator("#profile").selectOption("server");
  await page.locator("#kg-alg").selectOption("ecdsa-p256");
  await page.locator("#kg-cn").fill("browser.test");
  await page.locator("#kg-dns").fill("browser.test, www.browser.test");
  await page.locator("#kg-pass").fill(config.passphrase);
  await page.locator("#kg-pass2").fill(config.passphrase);
  await shot(page, "enroll-keygen");
  await a11y(page, "enroll-keygen");
  await saveDownload(page, "browser.key.pem", () => page.locator("#kg-submit").click());
  const generated = await expectRequestPage(page, "issued");
  await page.locator("#browser-key").waitFor({ state: "visible" });
  await page.locator("#p12-pass").fill(config.passphrase);
  await shot(page, "request-browser-key");
  await a11y(page, "request-browser-key");
  await saveDownload(page, "browser.p12", () => page.locator("#p12-button").click());

  // 4. A non-extractable RSA key: kept in the browser only, never offered as a file.
  await page.goto(`${base}/enroll`);
  await page.locator("#tab-keygen").click();
  await page.locator("#profile").selectOption("server");
  await page.locator("#kg-alg").selectOption("rsa-2048");
  await page.locator("#kg-cn").fill("kept.test");
  await page.locator("#kg-dns").fill("kept.test");
  await page.locator("#kg-store-browser").check();
  check(await page.locator("#kg-pass").isHidden(), "no passphrase for a key that stays in the browser");
  // Enter in a field generates the key (it does not post the empty CSR field).
  await page.locator("#kg-dns").press("Enter");
  const kept = await expectRequestPage(page, "issued");
  await page.locator("#browser-key").waitFor({ state: "visible" });
  check((await page.locator("#browser-key-text").textContent()).includes("non-extractable"), "says the key is non-extractable");
  check(await page.locator("#p12-form").isHidden(), "no PKCS#12 for a non-extractable key");

  // 5. My requests lists all four.
  await page.goto(`${base}/requests`);
  await shot(page, "my-requests");
  await a11y(page, "my-requests");
  for (const id of [pasted, pending, generated, kept]) {
    check(await page.locator(`a[href$="/${id}"]`).count() === 1, `request ${id} is listed`);
  }

  // 6. Forms without the session's CSRF token, or from another origin, are refused.
  const noToken = await page.request.post(`${base}/enroll`, {
    form: { ca: config.ca, profile: "server", csr: config.csr_pem }, maxRedirects: 0,
  });
  check(noToken.status() === 403, `a form without the CSRF token: ${noToken.status()}`);
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const crossSite = await page.request.post(`${base}/enroll`, {
    form: { csrf, ca: config.ca, profile: "server", csr: config.csr_pem },
    headers: { Origin: "http://attacker.example" }, maxRedirects: 0,
  });
  check(crossSite.status() === 403, `a cross-origin form: ${crossSite.status()}`);

  // 7. A requester cannot open the console.
  check(await page.getByRole("link", { name: "Console" }).count() === 0, "no console link for a requester");
  const admin = await page.goto(`${base}/admin`);
  check(admin.status() === 403, `a requester on /admin: ${admin.status()}`);
  await shot(page, "console-forbidden");
  await a11y(page, "console-forbidden");

  // 8. Signing out ends the session on the server too.
  await page.goto(`${base}/`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/signin$/);
  await ctx.addCookies([{ ...cookie }]);
  await page.goto(`${base}/enroll`);
  check(page.url().includes("/signin"), "the old cookie no longer signs in");

  check(problems.length === 0, `errors in the browser console (CSP violations?): ${problems.join(" | ")}`);
  return { pasted, pending, generated, kept };
});
