// Signing in to the web pages with a TLS client certificate over Signet's HTTPS listener,
// and the session ending when that certificate is revoked.
import { config, main, shot, check } from "./lib.mjs";

main(async (browser) => {
  const base = config.https_url;
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true,
    clientCertificates: [{ origin: base, certPath: config.cert, keyPath: config.key }],
  });
  const page = await ctx.newPage();
  await page.goto(`${base}/signin?next=%2Frequests`);
  const button = page.getByRole("button", { name: "Sign in with this certificate" });
  check(await button.count() === 1, "the sign-in page offers the presented certificate");
  check((await page.content()).includes("CN=carol"), "and names it");
  await shot(page, "signin-certificate");
  await button.click();
  await page.waitForURL(`${base}/requests`);
  check((await page.locator(".who .name").textContent()).trim() === "carol", "signed in as carol");
  const cookie = (await ctx.cookies()).find((c) => c.name === "__Host-signet-session");
  check(cookie && cookie.secure && cookie.httpOnly && cookie.sameSite === "Strict", "cookie flags");

  // Without a certificate, only the token form is offered.
  const other = await browser.newContext({ ignoreHTTPSErrors: true });
  const anon = await other.newPage();
  await anon.goto(`${base}/signin`);
  check(await anon.getByRole("button", { name: "Sign in with this certificate" }).count() === 0,
    "no certificate button without a certificate");
  await other.close();

  // A manager revokes carol's certificate: her session ends and she cannot sign in again.
  const revoke = await ctx.request.post(
    `${config.url}/api/v1/cas/${config.ca}/certificates/${config.serial}/revoke`,
    { headers: { Authorization: `Bearer ${config.manager}` }, data: { reason: "keyCompromise" } },
  );
  check(revoke.ok(), `revoking: ${revoke.status()} ${await revoke.text()}`);
  await page.goto(`${base}/requests`);
  check(page.url().includes("/signin"), `after revocation: ${page.url()}`);
  const again = page.getByRole("button", { name: "Sign in with this certificate" });
  await again.click();
  check((await page.locator(".notice.bad").textContent()).includes("revoked"), "a revoked certificate is refused");
  await ctx.close();
  return {};
});
