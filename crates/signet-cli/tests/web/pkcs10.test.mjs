// Tests of crates/signet-server/web/static/pkcs10.js (browser-side CSR, encrypted PKCS#8
// and PKCS#12) under Node's WebCrypto, with the `openssl` CLI as the oracle.
//
// Run: node --test crates/signet-cli/tests/web/pkcs10.test.mjs
// (crates/signet-cli/tests/browser_crypto.rs runs this from cargo test.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  ALGORITHMS,
  buildCsr,
  buildPkcs12,
  derToPem,
  exportEncryptedPkcs8,
  generateKeyPair,
  pemToDer,
} from "../../../signet-server/web/static/pkcs10.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "signet-pkcs10-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));

let counter = 0;
/** Writes `data` to a fresh file in the temp dir and returns its path. */
function write(name, data) {
  const file = path.join(dir, `${counter++}-${name}`);
  fs.writeFileSync(file, data);
  return file;
}

/** Runs openssl; returns { code, stdout, stderr, all }. */
function openssl(...args) {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: `openssl ${args.join(" ")}\n${r.stdout}${r.stderr}` };
}

/** Runs openssl and asserts it exited 0. */
function ok(...args) {
  const r = openssl(...args);
  assert.equal(r.code, 0, r.all);
  return r;
}

/** The CSR's public key as openssl prints it (PEM SubjectPublicKeyInfo). */
const csrPubkey = (csrFile) => ok("req", "-in", csrFile, "-pubkey", "-noout").stdout;

/** A throwaway openssl CA (P-256), made once. */
let ca;
function testCa() {
  if (!ca) {
    const key = path.join(dir, "ca.key");
    const cert = path.join(dir, "ca.pem");
    ok("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", key, "-out", cert, "-subj", "/CN=pkcs10.js test CA", "-days", "2");
    ca = { key, cert };
  }
  return ca;
}

/** Issues a certificate for the CSR with the test CA (copying the requested SAN). */
function issue(csrFile) {
  const { key, cert } = testCa();
  const out = write("leaf.pem", "");
  ok("x509", "-req", "-in", csrFile, "-CA", cert, "-CAkey", key, "-set_serial", String(1000 + counter),
    "-days", "1", "-copy_extensions", "copy", "-out", out);
  return out;
}

// ---- CSR --------------------------------------------------------------------------------

const EXPECT = {
  "ecdsa-p256": { key: /id-ecPublicKey[\s\S]*NIST CURVE: P-256/, sig: "ecdsa-with-SHA256" },
  "ecdsa-p384": { key: /id-ecPublicKey[\s\S]*NIST CURVE: P-384/, sig: "ecdsa-with-SHA384" },
  "rsa-2048": { key: /rsaEncryption[\s\S]*Public-Key: \(2048 bit\)[\s\S]*Exponent: 65537/, sig: "sha256WithRSAEncryption" },
  "rsa-3072": { key: /rsaEncryption[\s\S]*Public-Key: \(3072 bit\)[\s\S]*Exponent: 65537/, sig: "sha256WithRSAEncryption" },
  "rsa-4096": { key: /rsaEncryption[\s\S]*Public-Key: \(4096 bit\)[\s\S]*Exponent: 65537/, sig: "sha256WithRSAEncryption" },
};

test("ALGORITHMS lists the five key types with labels", () => {
  assert.deepEqual(Object.keys(ALGORITHMS).sort(), Object.keys(EXPECT).sort());
  for (const a of Object.values(ALGORITHMS)) assert.equal(typeof a.label, "string");
});

for (const alg of Object.keys(EXPECT)) {
  test(`CSR ${alg}: openssl verifies it and reads subject, SANs, key and signature algorithm`, async () => {
    const kp = await generateKeyPair(alg, false);
    assert.equal(kp.privateKey.extractable, false);
    const pem = await buildCsr(kp, alg, {
      commonName: `Zoë ${alg}.example`,
      dnsNames: [`${alg}.example`, "*.wild.example", "xn--bcher-kva.example"],
      emails: ["ops@example.com"],
    });
    assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
    for (const line of pem.trim().split("\n").slice(1, -1)) assert.ok(line.length <= 64, line);
    const file = write("csr.pem", pem);
    const r = ok("req", "-in", file, "-verify", "-noout", "-text", "-nameopt", "utf8");
    assert.match(r.all, /verify OK/);
    assert.match(r.stdout, /Version: 1 \(0x0\)/);
    assert.match(r.stdout, new RegExp(`Subject: CN ?= ?Zoë ${alg}\\.example`));
    assert.match(r.stdout, new RegExp(
      `X509v3 Subject Alternative Name: *\\n *DNS:${alg}\\.example, DNS:\\*\\.wild\\.example, DNS:xn--bcher-kva\\.example, email:ops@example\\.com`));
    assert.match(r.stdout, EXPECT[alg].key);
    assert.match(r.stdout, new RegExp(`Signature Algorithm: ${EXPECT[alg].sig}`));
    // The CN is a UTF8String; RSA signature AlgorithmIdentifiers carry NULL, ECDSA ones nothing.
    const asn1 = ok("asn1parse", "-in", file).stdout;
    assert.match(asn1, /UTF8STRING\s*:Zo/);
    const sigAlg = asn1.split("\n").filter((l) => /ecdsa-with|sha256WithRSAEncryption/.test(l)).pop();
    const after = asn1.split("\n").slice(asn1.split("\n").lastIndexOf(sigAlg) + 1)[0];
    if (alg.startsWith("rsa")) assert.match(after, /prim: NULL/, asn1);
    else assert.match(after, /BIT STRING/, asn1);
  });
}

test("CSR with only a common name has no extensionRequest; the empty [0] attributes are there", async () => {
  const kp = await generateKeyPair("ecdsa-p256", false);
  const file = write("csr.pem", await buildCsr(kp, "ecdsa-p256", { commonName: "just-a-name" }));
  const r = ok("req", "-in", file, "-verify", "-noout", "-text");
  assert.match(r.stdout, /Subject: CN = just-a-name/);
  assert.match(r.stdout, /Attributes:\s*\n\s*\(none\)/);
  assert.doesNotMatch(r.stdout, /Subject Alternative Name/);
  const asn1 = ok("asn1parse", "-in", file).stdout;
  assert.match(asn1, /l= *0 cons: cont \[ 0 \]/); // attributes [0] present and empty
  assert.doesNotMatch(asn1, /Extension Request/);
});

test("CSR with an empty subject and SANs: empty Name, critical subjectAltName", async () => {
  const kp = await generateKeyPair("ecdsa-p384", false);
  const file = write("csr.pem", await buildCsr(kp, "ecdsa-p384", { commonName: "", dnsNames: ["only-san.example"] }));
  const r = ok("req", "-in", file, "-verify", "-noout", "-text");
  assert.match(r.stdout, /Subject: *\n/);
  assert.match(r.stdout, /X509v3 Subject Alternative Name: critical\s*\n\s*DNS:only-san\.example/);
});

/** Reads one DER TLV at `off`: { tag, start (of contents), end }. */
function readTlv(der, off) {
  const tag = der[off];
  let len = der[off + 1];
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  return { tag, start, end: start + len };
}

/** r and s (INTEGER contents) of the Ecdsa-Sig-Value in a CSR's signature BIT STRING. */
function ecdsaIntegers(der) {
  const outer = readTlv(der, 0);
  const info = readTlv(der, outer.start);
  const alg = readTlv(der, info.end);
  const bitString = readTlv(der, alg.end);
  assert.equal(bitString.tag, 0x03);
  assert.equal(der[bitString.start], 0, "no unused bits");
  const sig = readTlv(der, bitString.start + 1);
  assert.equal(sig.tag, 0x30);
  assert.equal(sig.end, der.length);
  const r = readTlv(der, sig.start);
  const s = readTlv(der, r.end);
  assert.equal(r.tag, 0x02);
  assert.equal(s.tag, 0x02);
  assert.equal(s.end, sig.end);
  return { r: der.subarray(r.start, r.end), s: der.subarray(s.start, s.end) };
}

test("ECDSA signatures are minimal DER INTEGERs (leading 00 only before a high bit); openssl verifies each kind", async () => {
  const kp = await generateKeyPair("ecdsa-p256", false);
  const seen = new Map(); // kind -> CSR PEM
  for (let i = 0; i < 600 && seen.size < 3; i++) {
    const pem = await buildCsr(kp, "ecdsa-p256", { commonName: `sig ${i}` });
    const { r, s } = ecdsaIntegers(pemToDer(pem));
    for (const v of [r, s]) {
      // Minimal: no leading 00 unless the next byte has the high bit set; never negative.
      assert.ok((v[0] & 0x80) === 0, "INTEGER must be positive");
      if (v.length > 1) assert.ok(!(v[0] === 0 && (v[1] & 0x80) === 0), `non-minimal INTEGER in ${pem}`);
      const kind = v.length === 33 ? "padded" : v.length === 32 ? "plain" : "short";
      if (!seen.has(kind)) seen.set(kind, pem);
    }
  }
  assert.ok(seen.has("padded") && seen.has("plain"), `kinds seen: ${[...seen.keys()]}`);
  for (const [kind, pem] of seen) {
    const r = ok("req", "-in", write(`csr-${kind}.pem`, pem), "-verify", "-noout");
    assert.match(r.all, /verify OK/, kind);
  }
});

/**
 * `openssl req -verify` rejected the request. OpenSSL 3.0 prints "verify failure" but still
 * exits 0 (later versions exit 1), so the message counts as well as the exit status.
 */
function verifyFailed(r) {
  assert.doesNotMatch(r.all, /verify OK/, r.all);
  assert.ok(r.code !== 0 || /verify failure/.test(r.all), r.all);
}

test("a CSR with a tampered byte fails openssl -verify", async () => {
  const kp = await generateKeyPair("rsa-2048", false);
  const der = pemToDer(await buildCsr(kp, "rsa-2048", { commonName: "tamper-me.example" }));
  const cn = new TextEncoder().encode("tamper-me");
  let at = -1;
  for (let i = 0; i + cn.length <= der.length && at < 0; i++) {
    if (cn.every((b, j) => der[i + j] === b)) at = i;
  }
  assert.ok(at > 0);
  const good = write("good.pem", derToPem(der, "CERTIFICATE REQUEST"));
  assert.match(ok("req", "-in", good, "-verify", "-noout").all, /verify OK/);
  const bad = Uint8Array.from(der);
  bad[at] ^= 0x01; // "tamper-me" -> "uamper-me": still valid DER, wrong signature
  const r = openssl("req", "-in", write("bad.pem", derToPem(bad, "CERTIFICATE REQUEST")), "-verify", "-noout", "-subject");
  assert.match(r.all, /CN = uamper-me\.example/);
  verifyFailed(r);
  // A flipped bit in the signature itself fails too.
  const badSig = Uint8Array.from(der);
  badSig[badSig.length - 5] ^= 0x80;
  verifyFailed(openssl("req", "-in", write("badsig.pem", derToPem(badSig, "CERTIFICATE REQUEST")), "-verify", "-noout"));
});

test("buildCsr rejects bad input with clear messages", async () => {
  const kp = await generateKeyPair("ecdsa-p256", false);
  const bad = async (opts, re, alg = "ecdsa-p256", pair = kp) => {
    await assert.rejects(buildCsr(pair, alg, opts), (e) => e instanceof Error && re.test(e.message));
  };
  await bad({ commonName: "a".repeat(65) }, /65 characters.*limit is 64/);
  await buildCsr(kp, "ecdsa-p256", { commonName: "a".repeat(64) }); // exactly 64 is fine
  await bad({ commonName: "x", dnsNames: ["bücher.example"] }, /must be ASCII/);
  await bad({ commonName: "x", dnsNames: ["-bad.example"] }, /invalid/);
  await bad({ commonName: "x", dnsNames: ["a..example"] }, /invalid/);
  await bad({ commonName: "x", dnsNames: ["has space.example"] }, /is invalid: each label/);
  await bad({ commonName: "x", dnsNames: ["*.com"] }, /wildcard/);
  await bad({ commonName: "x", dnsNames: [`${"a".repeat(64)}.example`] }, /invalid/);
  await bad({ commonName: "x", dnsNames: [""] }, /non-empty/);
  await bad({ commonName: "x", emails: ["no-at-sign"] }, /name@example\.com/);
  await bad({ commonName: "x", emails: ["jörg@example.com"] }, /local part/);
  await bad({ commonName: "x", emails: ["a@bad_domain.example"] }, /email domain/);
  await bad({ commonName: "line\nbreak" }, /control characters/);
  await bad({ commonName: "" }, /needs a common name or at least one/);
  await bad({ commonName: "x", dnsNames: "a.example" }, /array/);
  await bad({ commonName: "x" }, /unknown key algorithm/, "ed25519");
  await bad({ commonName: "x" }, /not a ecdsa-p384 key pair/, "ecdsa-p384");
  await assert.rejects(generateKeyPair("dsa-1024", true), /unknown key algorithm/);
});

// ---- Encrypted PKCS#8 ---------------------------------------------------------------------

for (const alg of ["ecdsa-p256", "ecdsa-p384", "rsa-2048"]) {
  test(`encrypted PKCS#8 ${alg}: openssl decrypts it to the CSR's key; wrong passphrase fails`, async () => {
    const kp = await generateKeyPair(alg, true);
    const csr = write("csr.pem", await buildCsr(kp, alg, { commonName: "pkcs8.example" }));
    const pass = "correct horse battery staple";
    const pem = await exportEncryptedPkcs8(kp.privateKey, pass, { iterations: 10000 });
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    const key = write("key.pem", pem);
    const pub = ok("pkey", "-in", key, "-passin", `pass:${pass}`, "-pubout").stdout;
    assert.equal(pub, csrPubkey(csr));
    ok("pkcs8", "-in", key, "-passin", `pass:${pass}`, "-out", write("plain.pem", ""));
    const asn1 = ok("asn1parse", "-in", key).stdout;
    for (const name of ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"]) assert.match(asn1, new RegExp(`:${name}`), asn1);
    assert.match(asn1, /INTEGER\s*:2710/); // 10000 iterations
    const wrong = openssl("pkey", "-in", key, "-passin", "pass:wrong horse", "-pubout");
    assert.notEqual(wrong.code, 0, wrong.all);
  });
}

test("encrypted PKCS#8 defaults to 600000 iterations with a 16-byte salt and IV, fresh each time", async () => {
  const kp = await generateKeyPair("ecdsa-p256", true);
  const a = write("a.pem", await exportEncryptedPkcs8(kp.privateKey, "pässwörd"));
  const b = write("b.pem", await exportEncryptedPkcs8(kp.privateKey, "pässwörd"));
  const asn1 = ok("asn1parse", "-in", a).stdout;
  assert.match(asn1, /INTEGER\s*:0927C0/); // 600000
  const salts = [a, b].map((f) => ok("asn1parse", "-in", f).stdout.match(/OCTET STRING\s*\[HEX DUMP\]:([0-9A-F]+)/g));
  for (const s of salts) {
    assert.equal(s.length, 3, "salt, IV, ciphertext");
    assert.equal(s[0].split(":").pop().length, 32);
    assert.equal(s[1].split(":").pop().length, 32);
  }
  assert.notEqual(salts[0][0], salts[1][0]);
  assert.notEqual(salts[0][1], salts[1][1]);
  const pa = ok("pkey", "-in", a, "-passin", "pass:pässwörd", "-pubout").stdout;
  assert.equal(pa, ok("pkey", "-in", b, "-passin", "pass:pässwörd", "-pubout").stdout);
});

test("encrypted PKCS#8 needs an extractable key and a passphrase", async () => {
  const kp = await generateKeyPair("ecdsa-p256", false);
  await assert.rejects(exportEncryptedPkcs8(kp.privateKey, "pw"), /not extractable/);
  const ext = await generateKeyPair("ecdsa-p256", true);
  await assert.rejects(exportEncryptedPkcs8(ext.privateKey, ""), /passphrase/);
  await assert.rejects(exportEncryptedPkcs8(ext.publicKey, "pw"), /private/);
  await assert.rejects(exportEncryptedPkcs8(ext.privateKey, "pw", { iterations: 0 }), /iterations/);
});

// ---- PKCS#12 ------------------------------------------------------------------------------

for (const [alg, iterations] of [["ecdsa-p256", 2048], ["rsa-2048", 2048], ["ecdsa-p384", undefined]]) {
  test(`PKCS#12 ${alg} (${iterations ?? "default"} iterations): openssl verifies the MAC and gets key and certificates back`, async () => {
    const kp = await generateKeyPair(alg, true);
    const csr = write("csr.pem", await buildCsr(kp, alg, { commonName: "p12.example", dnsNames: ["p12.example"] }));
    const leafPem = fs.readFileSync(issue(csr), "utf8");
    const caPem = fs.readFileSync(testCa().cert, "utf8");
    const pass = "pässwörd 12";
    const opts = { friendlyName: "signet test key" };
    if (iterations !== undefined) opts.iterations = iterations;
    const pfx = await buildPkcs12(kp.privateKey, [pemToDer(leafPem), pemToDer(caPem)], pass, opts);
    assert.ok(pfx instanceof Uint8Array);
    const p12 = write("x.p12", pfx);
    const n = iterations ?? 600000;

    const info = ok("pkcs12", "-in", p12, "-passin", `pass:${pass}`, "-info", "-nodes");
    assert.match(info.all, new RegExp(`MAC: sha256, Iteration ${n}`));
    assert.match(info.all, /MAC length: 32/);
    assert.match(info.all, new RegExp(`PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration ${n}, PRF hmacWithSHA256`));
    assert.match(info.all, new RegExp(`Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration ${n}, PRF hmacWithSHA256`));
    assert.match(info.all, /Certificate bag[\s\S]*Certificate bag/);

    // The key: same public key as the CSR, with friendlyName and localKeyID.
    const keyOut = ok("pkcs12", "-in", p12, "-passin", `pass:${pass}`, "-nodes", "-nocerts");
    assert.match(keyOut.stdout, /friendlyName: signet test key/);
    const keyId = keyOut.stdout.match(/localKeyID: ([0-9A-F ]+)/)[1].trim();
    const keyFile = write("key.pem", keyOut.stdout);
    assert.equal(ok("pkey", "-in", keyFile, "-pubout").stdout, csrPubkey(csr));

    // The leaf (client cert) carries the same localKeyID, which is its SHA-1 fingerprint.
    const leafOut = ok("pkcs12", "-in", p12, "-passin", `pass:${pass}`, "-nokeys", "-clcerts");
    assert.match(leafOut.stdout, /friendlyName: signet test key/);
    assert.equal(leafOut.stdout.match(/localKeyID: ([0-9A-F ]+)/)[1].trim(), keyId);
    const leafFile = write("leaf-out.pem", leafOut.stdout);
    const fp = ok("x509", "-in", leafFile, "-noout", "-fingerprint", "-sha1").stdout.split("=")[1].trim();
    assert.equal(fp.replaceAll(":", " "), keyId);
    assert.deepEqual(pemToDer(leafOut.stdout), pemToDer(leafPem));
    // The key matches the certificate.
    assert.equal(ok("x509", "-in", leafFile, "-noout", "-pubkey").stdout, csrPubkey(csr));

    // The CA certificate comes out as the chain.
    const caOut = ok("pkcs12", "-in", p12, "-passin", `pass:${pass}`, "-nokeys", "-cacerts");
    assert.deepEqual(pemToDer(caOut.stdout), pemToDer(caPem));

    // A wrong passphrase fails the MAC.
    const wrong = openssl("pkcs12", "-in", p12, "-passin", "pass:passwörd 12", "-nodes", "-noout");
    assert.notEqual(wrong.code, 0, wrong.all);
    assert.match(wrong.all, /mac verify failure|invalid password/i);
  });
}

test("PKCS#12 with an ASCII passphrase and no friendlyName; a tampered byte fails the MAC", async () => {
  const kp = await generateKeyPair("ecdsa-p256", true);
  const csr = write("csr.pem", await buildCsr(kp, "ecdsa-p256", { commonName: "plain.example" }));
  const leaf = pemToDer(fs.readFileSync(issue(csr), "utf8"));
  const pfx = await buildPkcs12(kp.privateKey, [leaf], "hunter2", { iterations: 1000 });
  const p12 = write("x.p12", pfx);
  const out = ok("pkcs12", "-in", p12, "-passin", "pass:hunter2", "-nodes");
  assert.doesNotMatch(out.stdout, /friendlyName/);
  assert.match(out.stdout, /localKeyID/);
  assert.match(out.stdout, /BEGIN PRIVATE KEY/);
  assert.match(out.stdout, /BEGIN CERTIFICATE/);
  const bad = Uint8Array.from(pfx);
  bad[Math.floor(bad.length / 2)] ^= 0x01;
  const r = openssl("pkcs12", "-in", write("bad.p12", bad), "-passin", "pass:hunter2", "-nodes", "-noout");
  assert.notEqual(r.code, 0, r.all);
});

test("buildPkcs12 needs an extractable key, certificates and a passphrase", async () => {
  const ne = await generateKeyPair("ecdsa-p256", false);
  const cert = pemToDer(fs.readFileSync(testCa().cert, "utf8"));
  await assert.rejects(buildPkcs12(ne.privateKey, [cert], "pw", { iterations: 1000 }), /not extractable/);
  const kp = await generateKeyPair("ecdsa-p256", true);
  await assert.rejects(buildPkcs12(kp.privateKey, [], "pw"), /at least one certificate/);
  await assert.rejects(buildPkcs12(kp.privateKey, ["not der"], "pw"), /not a DER certificate/);
  await assert.rejects(buildPkcs12(kp.privateKey, [cert], ""), /passphrase/);
});

// ---- PEM ----------------------------------------------------------------------------------

test("derToPem and pemToDer round-trip and agree with openssl", () => {
  const der = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff);
  const pem = derToPem(der, "TEST DATA");
  const lines = pem.trim().split("\n");
  assert.equal(lines[0], "-----BEGIN TEST DATA-----");
  assert.equal(lines.at(-1), "-----END TEST DATA-----");
  assert.ok(lines.slice(1, -2).every((l) => l.length === 64));
  assert.deepEqual(pemToDer(pem), der);
  assert.deepEqual(pemToDer(`junk before\r\n${pem.replaceAll("\n", "\r\n")}\n${derToPem(Uint8Array.of(1), "OTHER")}`), der);
  const caPem = fs.readFileSync(testCa().cert, "utf8");
  const derFile = write("ca.der", pemToDer(caPem));
  assert.equal(ok("x509", "-in", derFile, "-inform", "DER").stdout, caPem);
  assert.throws(() => pemToDer("no pem here"), /no PEM block/);
  assert.throws(() => pemToDer("-----BEGIN X-----\n!!!!\n-----END X-----\n"), /base64/);
});
