// The administration console in Chromium (run by tests/web_console.rs, which set up the
// server, the tokens, three pending requests, two issued certificates and two failing exit
// modules). Managers review, edit, approve and deny; revoke, hold and release; an
// administrator publishes CRLs and retries and skips exit deliveries; an auditor reads and
// verifies the audit log; a requester and a form without its CSRF token are refused.
import fs from "node:fs";
import { config, context, shot, a11y, signIn, check, main, saveDownload } from "./lib.mjs";

const base = config.url;
const ca = config.ca;

/** A page that accepts confirm() dialogs and records CSP violations. */
async function openPage(ctx, problems) {
  const page = await ctx.newPage();
  page.on("dialog", (d) => d.accept());
  page.on("console", (m) => {
    // A 403 page is expected here and there; Chromium logs its status as an error.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`${page.url()}: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
  return page;
}

async function notice(page, expected) {
  const n = page.locator("#notice");
  await n.waitFor();
  const text = (await n.innerText()).trim();
  check(text.includes(expected), `expected a notice with "${expected}", got "${text}"`);
  return text;
}

/** Clicks `locator` and returns the response to the POST it sends. */
async function post(page, locator, path) {
  const waiting = page.waitForResponse(
    (r) => r.request().method() === "POST" && new URL(r.url()).pathname === path,
  );
  await locator.click();
  const resp = await waiting;
  await page.waitForLoadState("load");
  return resp;
}

/** A screenshot, and axe-core's WCAG 2 A/AA check of the page (serious violations fail). */
async function snap(page, name, result) {
  await shot(page, name);
  result.a11y[name] = await a11y(page, name);
}

async function text(page, selector) {
  return (await page.locator(selector).innerText()).trim();
}

main(async (browser) => {
  const problems = [];
  const result = { a11y: {} };

  // ---- a manager ------------------------------------------------------------------------
  const ctx = await context(browser);
  const page = await openPage(ctx, problems);
  await signIn(page, config.manager, "/admin");
  check(new URL(page.url()).pathname === `/admin/${ca}`, `/admin leads to the dashboard, not ${page.url()}`);
  check((await text(page, "h1")).startsWith("Dashboard"), "the dashboard heading");
  check((await text(page, ".card.status-pending .n")) === "3", "three pending requests on the dashboard");
  check((await page.locator("svg.chart rect.bar").count()) === 30, "thirty days of bars");
  check((await page.locator(".subnav a", { hasText: "Audit" }).count()) === 0, "no Audit tab for a manager");
  check(
    (await page.locator(".subnav a[aria-current=page]").innerText()).trim() === "Dashboard",
    "the Dashboard tab is current",
  );
  await snap(page, "console-dashboard", result);

  await page.locator(".subnav").getByRole("link", { name: "Pending", exact: true }).click();
  await page.waitForURL(`**/admin/${ca}/pending`);
  const pendingRows = await page.locator("#pending tbody tr").count();
  check(pendingRows === 3, `three rows in the pending queue, got ${pendingRows}`);
  const dualRow = await page.locator("#pending tbody tr", { hasText: `#${config.dual_id}` }).innerText();
  check(dualRow.includes("0 of 2") && dualRow.includes("dual"), `M of N in the queue: ${dualRow}`);
  await snap(page, "console-pending", result);

  // Review and edit one request, then approve it.
  await page.getByRole("link", { name: `#${config.approve_id}`, exact: true }).click();
  await page.waitForURL(`**/requests/${config.approve_id}`);
  check((await text(page, "#subject")).includes("approve-me.test"), "the request's subject");
  check((await page.locator("dl.props").first().innerText()).includes("ECDSA P-256"), "the key algorithm");
  await snap(page, "console-request", result);
  await page.getByLabel("Attribute name").fill("department");
  await page.getByLabel("Value", { exact: true }).fill("web-ops");
  await post(page, page.locator("#attr-save"), `/admin/${ca}/requests/${config.approve_id}/attributes`);
  await notice(page, "Attributes saved");
  check((await text(page, "#attributes")).includes("web-ops"), "the new attribute is listed");
  await post(page, page.locator("#approve"), `/admin/${ca}/requests/${config.approve_id}/approve`);
  await notice(page, "certificate was issued");
  check((await text(page, "#status")) === "issued", "the request is issued");

  // Two approvals needed: the first shows progress; the same manager again is refused.
  await page.goto(`${base}/admin/${ca}/requests/${config.dual_id}`);
  await post(page, page.locator("#approve"), `/admin/${ca}/requests/${config.dual_id}/approve`);
  await notice(page, "Approval recorded");
  check((await text(page, "#approval-progress")).includes("1 of 2"), "1 of 2 approvals");
  check(
    (await page.locator(".progress[role=progressbar]").getAttribute("aria-valuenow")) === "1",
    "the progress bar's value",
  );
  const again = await post(page, page.locator("#approve"), `/admin/${ca}/requests/${config.dual_id}/approve`);
  check(again.status() >= 400, `a second approval by the same manager is refused (${again.status()})`);
  result.second_approval = (await text(page, "#notice"));
  check((await page.locator("#notice.bad").count()) === 1, "the refusal is shown as an error notice");

  // A form whose CSRF token was removed is refused, and nothing changes.
  await page.goto(`${base}/admin/${ca}/requests/${config.deny_id}`);
  await page.getByLabel("Reason for denial").fill("not an approved host name");
  await page.locator("form.deny-form input[name=csrf]").evaluate((e) => { e.value = ""; });
  const forged = await post(page, page.locator("#deny"), `/admin/${ca}/requests/${config.deny_id}/deny`);
  check(forged.status() === 403, `a form without its CSRF token gets 403, not ${forged.status()}`);
  check((await text(page, "h1")).includes("403"), "the 403 page");
  result.csrf_refusal = await text(page, "main p:first-of-type");
  check(result.csrf_refusal.includes("security token"), `the CSRF refusal: ${result.csrf_refusal}`);

  await page.goto(`${base}/admin/${ca}/requests/${config.deny_id}`);
  check((await text(page, "#status")) === "pending", "the forged deny changed nothing");
  await page.getByLabel("Reason for denial").fill("not an approved host name");
  await post(page, page.locator("#deny"), `/admin/${ca}/requests/${config.deny_id}/deny`);
  await notice(page, "denied");
  check((await text(page, "#status")) === "denied", "the request is denied");
  check((await text(page, "#policy-message")).includes("not an approved host name"), "the reason is shown");

  // A second manager completes the M-of-N approval.
  const ctx2 = await context(browser);
  const page2 = await openPage(ctx2, problems);
  await signIn(page2, config.manager2, `/admin/${ca}/requests/${config.dual_id}`);
  await post(page2, page2.locator("#approve"), `/admin/${ca}/requests/${config.dual_id}/approve`);
  await notice(page2, "certificate was issued");
  check((await text(page2, "#approval-progress")).includes("2 of 2"), "2 of 2 approvals");
  await ctx2.close();

  // Search, open and revoke a certificate.
  await page.locator(".subnav").getByRole("link", { name: "Certificates", exact: true }).click();
  await page.waitForURL(`**/admin/${ca}/certificates`);
  await page.getByLabel("Subject or alternative name contains").fill("revoke-me");
  await page.locator("#search").click();
  await page.waitForURL(/q=revoke-me/);
  const found = await page.locator("#certificates tbody tr").count();
  check(found === 1, `one certificate matches revoke-me, got ${found}`);
  await snap(page, "console-certificates", result);
  await page.locator("#certificates tbody tr th a").first().click();
  await page.waitForURL(`**/certificates/*`);
  check((await text(page, "#serial")).toLowerCase() === config.revoke_serial.toLowerCase(), "the serial number");
  const props = await page.locator("dl.props").first().innerText();
  check(props.includes("serverAuth") && props.includes("DNS:revoke-me.test"), `decoded details: ${props}`);
  check((await text(page, "#pem")).startsWith("-----BEGIN CERTIFICATE-----"), "the PEM");
  const downloaded = await saveDownload(page, "console-certificate.pem",
    () => page.getByRole("link", { name: "Certificate (PEM)" }).click());
  check(fs.readFileSync(downloaded, "utf8").trim() === (await text(page, "#pem")).trim(),
    "the console's PEM download is the certificate shown");
  await snap(page, "console-certificate", result);
  await page.getByLabel("Reason").selectOption("keyCompromise");
  await post(page, page.locator("#revoke"), `/admin/${ca}/certificates/${config.revoke_serial}/revoke`);
  await notice(page, "revoked");
  check((await text(page, "#status")) === "revoked", "the certificate is revoked");
  check((await text(page, "#revocation")).includes("keyCompromise"), "the reason is shown");

  // Put another on hold, then release it.
  await page.goto(`${base}/admin/${ca}/certificates/${config.hold_serial}`);
  await page.getByLabel("Reason").selectOption("certificateHold");
  await post(page, page.locator("#revoke"), `/admin/${ca}/certificates/${config.hold_serial}/revoke`);
  await notice(page, "on hold");
  check((await text(page, "#status")) === "on hold", "the certificate is on hold");
  await post(page, page.locator("#release"), `/admin/${ca}/certificates/${config.hold_serial}/unrevoke`);
  await notice(page, "hold was released");
  check((await text(page, "#status")) === "issued", "the certificate is valid again");

  // Publishing CRLs needs the admin role: the engine's refusal is shown.
  await page.goto(`${base}/admin/${ca}/crls`);
  const refused = await post(page, page.locator("#publish"), `/admin/${ca}/crls/publish`);
  check(refused.status() === 403, `a manager cannot publish CRLs (${refused.status()})`);
  result.manager_publish = await text(page, "#notice");
  await ctx.close();

  // ---- a requester ----------------------------------------------------------------------
  const rctx = await context(browser);
  const rpage = await openPage(rctx, problems);
  await signIn(rpage, config.requester, "/");
  const home = await rpage.goto(`${base}/admin`);
  check(home.status() === 403, `a requester gets 403 on /admin, not ${home.status()}`);
  check((await text(rpage, "h1")).includes("403"), "the 403 page");
  check((await rpage.locator(".top nav a", { hasText: "Console" }).count()) === 0, "no Console link for a requester");
  // A console form posted with the requester's own, valid CSRF token: the engine refuses.
  await rpage.goto(`${base}/`);
  const waiting = rpage.waitForResponse((r) => r.request().method() === "POST");
  await rpage.evaluate(({ ca, id }) => {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/admin/${ca}/requests/${id}/approve`;
    form.append(document.querySelector("input[name=csrf]").cloneNode());
    document.body.append(form);
    form.submit();
  }, { ca, id: config.approve_id });
  const denied = await waiting;
  check(denied.status() === 403, `a requester's console POST gets 403, not ${denied.status()}`);
  await rpage.waitForLoadState("load");
  check((await text(rpage, "h1")).includes("403"), "the 403 page after a POST");
  await rctx.close();

  // ---- an administrator -----------------------------------------------------------------
  const actx = await context(browser);
  const apage = await openPage(actx, problems);
  await signIn(apage, config.admin, `/admin/${ca}/crls`);
  // The newest CRL number before and after "Publish now": the button, not a scheduled
  // publication, made a new one.
  const newest = async () => Math.max(...(await apage.locator("#crls tbody tr th").allTextContents()).map(Number));
  const before = await newest();
  await post(apage, apage.locator("#publish"), `/admin/${ca}/crls/publish`);
  await notice(apage, "CRLs published");
  const after = await newest();
  check(after > before, `Publish now made a new CRL (newest number ${before} → ${after})`);
  const crlRows = await apage.locator("#crls tbody tr").count();
  check(crlRows >= 1, "published CRLs are listed");
  check((await apage.locator(`#crls a[href="/crl/${ca}.crl"]`).count()) === 1, "the current CRL's download link");
  await snap(apage, "console-crls", result);

  await apage.locator(".subnav").getByRole("link", { name: "Exits", exact: true }).click();
  await apage.waitForURL(`**/admin/${ca}/exits`);
  const flaky = await apage.locator("#exit-flaky").innerText();
  check(flaky.includes("parked") && flaky.includes("the hook is down"), `the parked events and their error: ${flaky}`);
  const stuck = await apage.locator("#exit-stuck").innerText();
  check(stuck.includes("failing") && stuck.includes("Next attempt"), `the stuck module: ${stuck}`);
  await snap(apage, "console-exits", result);
  // The cause is gone: retrying a parked event delivers it.
  fs.unlinkSync(config.flag);
  const parkedBefore = await apage.locator("#exit-flaky table.parked tbody tr").count();
  await post(
    apage,
    apage.locator("#exit-flaky table.parked tbody tr button").first(),
    new URL(await apage.locator("#exit-flaky table.parked tbody tr form").first().getAttribute("action"), base).pathname,
  );
  await notice(apage, "parked event was delivered");
  const parkedAfter = await apage.locator("#exit-flaky table.parked tbody tr").count();
  check(parkedAfter === parkedBefore - 1, `one parked event fewer (${parkedBefore} → ${parkedAfter})`);
  // Skip the event `stuck` waits an hour to retry.
  await post(apage, apage.locator("#skip-stuck"), `/admin/${ca}/exits/stuck/skip`);
  await notice(apage, "event was parked");
  check((await apage.locator("#exit-stuck table.parked tbody tr").count()) >= 1, "the skipped event is parked");
  await actx.close();

  // ---- an auditor -----------------------------------------------------------------------
  const uctx = await context(browser);
  const upage = await openPage(uctx, problems);
  await signIn(upage, config.auditor, "/admin/audit");
  check(
    (await upage.locator(".subnav a[aria-current=page]").innerText()).trim() === "Audit",
    "the Audit tab is current",
  );
  const log = await text(upage, "#audit");
  check(log.includes("mia") && log.includes("revoke") && log.includes("exit-skip"), "the newest records by name");
  const firstSeq = Number(await text(upage, "#audit tbody tr:first-child th"));
  const secondSeq = Number(await text(upage, "#audit tbody tr:nth-child(2) th"));
  check(firstSeq > secondSeq, "newest first");
  await upage.locator("#verify").click();
  await upage.waitForURL(/verify=1/);
  result.audit_check = await notice(upage, "intact");
  await snap(upage, "console-audit", result);
  if (await upage.locator("#older").count()) {
    await upage.locator("#older").click();
    check((await upage.locator("#audit tbody tr").count()) >= 1, "an older page");
  }
  await uctx.close();

  check(problems.length === 0, `browser errors (CSP or script):\n${problems.join("\n")}`);
  return result;
});
