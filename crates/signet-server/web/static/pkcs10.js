// pkcs10.js: browser-side key generation, PKCS#10 certificate requests, encrypted PKCS#8
// and PKCS#12 for Signet's web enrollment page. The private key never leaves the browser.
//
// Plain ES module, no dependencies, no eval: only WebCrypto (crypto.subtle,
// crypto.getRandomValues) and standard JavaScript (TextEncoder, Uint8Array, atob, btoa).
//
// Layout:
//   1. A small DER encoder (X.690): tlv() and one helper per ASN.1 type.
//   2. Algorithms and key generation.
//   3. PKCS#10 CertificationRequest (RFC 2986) with an extensionRequest (RFC 2985).
//   4. PKCS#8 EncryptedPrivateKeyInfo (RFC 5958) with PBES2 (RFC 8018).
//   5. PKCS#12 PFX (RFC 7292) with a SHA-256 HMAC MacData.
//   6. PEM (RFC 7468).

const subtle = globalThis.crypto.subtle;

// ---------------------------------------------------------------------------------------
// 1. DER encoder
// ---------------------------------------------------------------------------------------

/** Concatenates byte arrays. */
function concat(...parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The DER length octets (definite form, minimal). */
function derLength(n) {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV: identifier octet `tag`, then the concatenated contents. */
function tlv(tag, ...contents) {
  const body = concat(...contents);
  return concat(Uint8Array.of(tag), derLength(body.length), body);
}

const seq = (...items) => tlv(0x30, ...items);

/** SET OF: DER wants the encodings sorted as octet strings (X.690 11.6). */
function setOf(...items) {
  const sorted = [...items].sort((a, b) => {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  });
  return tlv(0x31, ...sorted);
}

/** INTEGER from unsigned big-endian bytes: strip leading zeros, add one if the high bit is set. */
function uintBytes(bytes) {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let v = bytes.subarray(i);
  if (v.length === 0) v = Uint8Array.of(0);
  if (v[0] & 0x80) v = concat(Uint8Array.of(0), v);
  return tlv(0x02, v);
}

/** INTEGER from a non-negative JavaScript safe integer. */
function uint(n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${n}`);
  const bytes = [];
  do {
    bytes.unshift(n % 256);
    n = Math.floor(n / 256);
  } while (n > 0);
  return uintBytes(Uint8Array.from(bytes));
}

/** OBJECT IDENTIFIER from dotted text (X.690 8.19). */
function oid(dotted) {
  const arcs = dotted.split(".").map(Number);
  const out = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk = [arc & 0x7f];
    let v = Math.floor(arc / 128);
    while (v > 0) {
      chunk.unshift(0x80 | (v & 0x7f));
      v = Math.floor(v / 128);
    }
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

const NULL = Uint8Array.of(0x05, 0x00);
const octets = (bytes) => tlv(0x04, bytes);
/** BIT STRING with no unused bits. */
const bits = (bytes) => tlv(0x03, Uint8Array.of(0), bytes);
const utf8String = (s) => tlv(0x0c, new TextEncoder().encode(s));
/** BMPString: UTF-16 big-endian code units (surrogate pairs as they are). */
const bmpString = (s) => tlv(0x1e, utf16be(s));
/** [n] EXPLICIT (constructed, wraps a whole TLV). */
const explicit = (n, ...inner) => tlv(0xa0 | n, ...inner);
/** [n] IMPLICIT on a primitive type: the tag replaces the type's own. */
const implicitPrim = (n, contents) => tlv(0x80 | n, contents);
/** [n] IMPLICIT on a constructed type (SET/SEQUENCE). */
const implicitCons = (n, ...contents) => tlv(0xa0 | n, ...contents);

/** AlgorithmIdentifier (RFC 5280 4.1.1.2): params omitted when undefined. */
const algId = (dotted, params) => (params === undefined ? seq(oid(dotted)) : seq(oid(dotted), params));

function utf16be(s) {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c >> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

const OID = {
  commonName: "2.5.4.3",
  subjectAltName: "2.5.29.17",
  extensionRequest: "1.2.840.113549.1.9.14",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  ecdsaWithSHA384: "1.2.840.10045.4.3.3",
  sha256WithRSAEncryption: "1.2.840.113549.1.1.11",
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSHA256: "1.2.840.113549.2.9",
  aes256CBC: "2.16.840.1.101.3.4.1.42",
  sha256: "2.16.840.1.101.3.4.2.1",
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
};

// ---------------------------------------------------------------------------------------
// 2. Algorithms and key generation
// ---------------------------------------------------------------------------------------

const RSA_E = Uint8Array.of(1, 0, 1); // 65537

function rsa(bitsLen) {
  return Object.freeze({
    label: `RSA ${bitsLen} (PKCS#1 v1.5, SHA-256)`,
    keyParams: Object.freeze({
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: bitsLen,
      publicExponent: RSA_E,
      hash: "SHA-256",
    }),
    signParams: Object.freeze({ name: "RSASSA-PKCS1-v1_5" }),
    signatureOid: OID.sha256WithRSAEncryption,
    signatureParamsNull: true, // RFC 4055: NULL parameters for the RSA PKCS#1 v1.5 OIDs
  });
}

function ecdsa(curve, hash, sigOid, bytes) {
  return Object.freeze({
    label: `ECDSA ${curve} (${hash})`,
    keyParams: Object.freeze({ name: "ECDSA", namedCurve: curve }),
    signParams: Object.freeze({ name: "ECDSA", hash }),
    signatureOid: sigOid,
    signatureParamsNull: false, // RFC 5758: parameters absent for ecdsa-with-SHA*
    coordinateBytes: bytes,
  });
}

/** The key types the enrollment page offers: a label and the WebCrypto parameters. */
export const ALGORITHMS = Object.freeze({
  "ecdsa-p256": ecdsa("P-256", "SHA-256", OID.ecdsaWithSHA256, 32),
  "ecdsa-p384": ecdsa("P-384", "SHA-384", OID.ecdsaWithSHA384, 48),
  "rsa-2048": rsa(2048),
  "rsa-3072": rsa(3072),
  "rsa-4096": rsa(4096),
});

function algorithm(alg) {
  if (typeof alg !== "string" || !Object.prototype.hasOwnProperty.call(ALGORITHMS, alg)) {
    throw new Error(`unknown key algorithm ${JSON.stringify(alg)}; expected one of ${Object.keys(ALGORITHMS).join(", ")}`);
  }
  return ALGORITHMS[alg];
}

/**
 * Generates a key pair for `alg` (a key of ALGORITHMS). With extractable=false the private
 * key cannot be exported (no PKCS#8/PKCS#12 then); the public key is always exportable.
 */
export async function generateKeyPair(alg, extractable) {
  const a = algorithm(alg);
  if (typeof extractable !== "boolean") throw new Error("generateKeyPair: extractable must be true or false");
  return subtle.generateKey(a.keyParams, extractable, ["sign", "verify"]);
}

/** Checks that a WebCrypto key was made for `alg`. */
function checkKeyMatches(key, a, alg) {
  const k = key && key.algorithm;
  const p = a.keyParams;
  const ok =
    k &&
    k.name === p.name &&
    (p.name === "ECDSA"
      ? k.namedCurve === p.namedCurve
      : k.modulusLength === p.modulusLength && k.hash && k.hash.name === p.hash);
  if (!ok) throw new Error(`the key pair is not a ${alg} key pair`);
}

// ---------------------------------------------------------------------------------------
// 3. PKCS#10 (RFC 2986)
// ---------------------------------------------------------------------------------------

const MAX_CN = 64; // ub-common-name (RFC 5280 Appendix A)

function validateCommonName(cn) {
  if (typeof cn !== "string") throw new Error("commonName must be a string");
  const chars = [...cn].length;
  if (chars > MAX_CN) throw new Error(`commonName is ${chars} characters long; the limit is ${MAX_CN}`);
  if (/[\u0000-\u001f\u007f]/.test(cn)) throw new Error("commonName must not contain control characters");
  if (cn !== cn.trim()) throw new Error("commonName must not start or end with whitespace");
  if (cn.isWellFormed && !cn.isWellFormed()) throw new Error("commonName is not valid Unicode");
  return cn;
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A DNS name in preferred name syntax (RFC 1034 3.5, RFC 5280 4.2.1.6); "*." prefix allowed. */
function validateDnsName(name, what = "DNS name") {
  if (typeof name !== "string" || name.length === 0) throw new Error(`${what} must be a non-empty string`);
  if (/[^\x00-\x7f]/.test(name)) {
    throw new Error(`${what} ${JSON.stringify(name)} must be ASCII (use the xn-- A-label form for international names)`);
  }
  if (name.length > 253) throw new Error(`${what} ${JSON.stringify(name)} is longer than 253 characters`);
  const labels = name.split(".");
  const wildcard = what === "DNS name" && labels[0] === "*";
  const rest = wildcard ? labels.slice(1) : labels;
  if (wildcard && rest.length < 2) {
    throw new Error(`${what} ${JSON.stringify(name)}: a wildcard needs at least two labels after "*."`);
  }
  for (const l of rest) {
    if (!LABEL.test(l)) {
      throw new Error(
        `${what} ${JSON.stringify(name)} is invalid: each label is 1-63 letters, digits or hyphens, not starting or ending with a hyphen`,
      );
    }
  }
  return name;
}

/** An rfc822Name: local-part@domain, ASCII only (RFC 5280 4.2.1.6). */
function validateEmail(email) {
  if (typeof email !== "string" || email.length === 0) throw new Error("email must be a non-empty string");
  const at = email.lastIndexOf("@");
  if (at <= 0 || at === email.length - 1) throw new Error(`email ${JSON.stringify(email)} must look like name@example.com`);
  const local = email.slice(0, at);
  if (!/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/.test(local) || local.startsWith(".") || local.endsWith(".") || local.includes("..")) {
    throw new Error(`email ${JSON.stringify(email)} has an invalid or non-ASCII local part`);
  }
  validateDnsName(email.slice(at + 1), "email domain");
  return email;
}

function stringList(v, what) {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what} must be an array of strings`);
  return v;
}

/** Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 2.2.3) from WebCrypto's raw r||s. */
function ecdsaRawToDer(raw, coordinateBytes) {
  if (raw.length !== 2 * coordinateBytes) throw new Error(`unexpected ECDSA signature length ${raw.length}`);
  return seq(uintBytes(raw.subarray(0, coordinateBytes)), uintBytes(raw.subarray(coordinateBytes)));
}

/**
 * Builds and signs a PKCS#10 CertificationRequest (RFC 2986 4):
 *   CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * Returns PEM ("CERTIFICATE REQUEST").
 */
export async function buildCsr(keyPair, alg, { commonName = "", dnsNames = [], emails = [] } = {}) {
  const a = algorithm(alg);
  if (!keyPair || !keyPair.privateKey || !keyPair.publicKey) throw new Error("buildCsr: need a CryptoKeyPair");
  checkKeyMatches(keyPair.privateKey, a, alg);
  checkKeyMatches(keyPair.publicKey, a, alg);
  const cn = validateCommonName(commonName ?? "");
  const dns = stringList(dnsNames, "dnsNames").map((d) => validateDnsName(d));
  const mails = stringList(emails, "emails").map(validateEmail);
  if (cn === "" && dns.length === 0 && mails.length === 0) {
    throw new Error("a certificate request needs a common name or at least one DNS name or email");
  }

  // Name ::= SEQUENCE OF RelativeDistinguishedName; one RDN { commonName UTF8String }.
  const subject = cn === "" ? seq() : seq(setOf(seq(oid(OID.commonName), utf8String(cn))));

  // SubjectPublicKeyInfo exactly as WebCrypto encodes it (RFC 5280 4.1.2.7).
  const spki = new Uint8Array(await subtle.exportKey("spki", keyPair.publicKey));

  // attributes [0] IMPLICIT SET OF Attribute; extensionRequest (RFC 2985 5.4.2) holds
  // Extensions with one subjectAltName (RFC 5280 4.2.1.6): dNSName [2], rfc822Name [1].
  const attributes = [];
  if (dns.length + mails.length > 0) {
    const enc = new TextEncoder();
    const generalNames = seq(
      ...dns.map((d) => implicitPrim(2, enc.encode(d))),
      ...mails.map((m) => implicitPrim(1, enc.encode(m))),
    );
    // With an empty subject the SAN must be critical (RFC 5280 4.2.1.6).
    const critical = cn === "" ? [Uint8Array.of(0x01, 0x01, 0xff)] : [];
    const extension = seq(oid(OID.subjectAltName), ...critical, octets(generalNames));
    attributes.push(seq(oid(OID.extensionRequest), setOf(seq(extension))));
  }

  // CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject, subjectPKInfo, attributes [0] }
  const info = seq(uint(0), subject, spki, implicitCons(0, ...attributes));

  const sig = new Uint8Array(await subtle.sign(a.signParams, keyPair.privateKey, info));
  const signature = a.keyParams.name === "ECDSA" ? ecdsaRawToDer(sig, a.coordinateBytes) : sig;
  const sigAlg = algId(a.signatureOid, a.signatureParamsNull ? NULL : undefined);
  return derToPem(seq(info, sigAlg, bits(signature)), "CERTIFICATE REQUEST");
}

// ---------------------------------------------------------------------------------------
// 4. Encrypted PKCS#8 (RFC 5958 3, PBES2 from RFC 8018 6.2)
// ---------------------------------------------------------------------------------------

function checkPassphrase(passphrase) {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new Error("the passphrase must be a non-empty string");
  if (passphrase.isWellFormed && !passphrase.isWellFormed()) throw new Error("the passphrase is not valid Unicode");
}

function checkIterations(iterations) {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 0x7fffffff) {
    throw new Error(`iterations must be an integer between 1 and 2^31-1, not ${iterations}`);
  }
}

const random = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/**
 * PBES2 encryption with PBKDF2-HMAC-SHA256 and AES-256-CBC; the password is the UTF-8
 * passphrase. Returns { algorithm: the PBES2 AlgorithmIdentifier, ciphertext }.
 *   PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, encryptionScheme AlgorithmIdentifier }
 *   PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, prf AlgorithmIdentifier }
 */
async function pbes2Encrypt(plaintext, passphrase, iterations) {
  const salt = random(16);
  const iv = random(16);
  const password = await subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  const key = await subtle.deriveKey(
    { name: "PBKDF2", salt, iterations, hash: "SHA-256" },
    password,
    { name: "AES-CBC", length: 256 },
    false,
    ["encrypt"],
  );
  // AES-CBC in WebCrypto pads with PKCS#7, as RFC 8018 6.2.1 / RFC 5652 6.3 want.
  const ciphertext = new Uint8Array(await subtle.encrypt({ name: "AES-CBC", iv }, key, plaintext));
  const kdf = algId(OID.pbkdf2, seq(octets(salt), uint(iterations), algId(OID.hmacWithSHA256, NULL)));
  const algorithm = algId(OID.pbes2, seq(kdf, algId(OID.aes256CBC, octets(iv))));
  return { algorithm, ciphertext };
}

async function exportPkcs8(privateKey) {
  if (!privateKey || privateKey.type !== "private") throw new Error("need a private CryptoKey");
  if (!privateKey.extractable) {
    throw new Error("the private key is not extractable: generate it with extractable=true to export or back it up");
  }
  return new Uint8Array(await subtle.exportKey("pkcs8", privateKey));
}

/** EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData OCTET STRING } (DER). */
async function encryptedPrivateKeyInfo(privateKey, passphrase, iterations) {
  checkPassphrase(passphrase);
  checkIterations(iterations);
  const pkcs8 = await exportPkcs8(privateKey);
  try {
    const { algorithm, ciphertext } = await pbes2Encrypt(pkcs8, passphrase, iterations);
    return seq(algorithm, octets(ciphertext));
  } finally {
    pkcs8.fill(0);
  }
}

/** The private key as PEM "ENCRYPTED PRIVATE KEY" (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC). */
export async function exportEncryptedPkcs8(privateKey, passphrase, { iterations = 600000 } = {}) {
  return derToPem(await encryptedPrivateKeyInfo(privateKey, passphrase, iterations), "ENCRYPTED PRIVATE KEY");
}

// ---------------------------------------------------------------------------------------
// 5. PKCS#12 (RFC 7292)
// ---------------------------------------------------------------------------------------

// SHA-256 (FIPS 180-4) in plain JavaScript, used only for the repeated rounds of the
// PKCS#12 MAC key derivation below: it hashes its own output `iterations` times in
// sequence, and one awaited crypto.subtle.digest call per round (tens of microseconds
// each) would make 600000 rounds take many seconds. Every derivation checks this code
// against crypto.subtle.digest first. PBKDF2 and everything else use WebCrypto.
const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const SHA256_IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** One SHA-256 compression: `w[0..15]` holds the block; updates the state `h` in place. */
function sha256Compress(h, w) {
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15];
    const y = w[t - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (k + S1 + ((e & f) ^ (~e & g)) + K256[t] + w[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += k;
}

/**
 * H^count(msg): SHA-256 of msg, then of that digest, count times in all. After the first
 * round the input is one 32-byte digest, so each further round is a single compression
 * of a fixed-layout block (digest, 0x80 padding, bit length 256).
 */
function sha256Iterated(msg, count) {
  const h = Uint32Array.from(SHA256_IV);
  const w = new Uint32Array(64);
  // Padding: 0x80, zeros, 64-bit big-endian bit length (FIPS 180-4 5.1.1).
  const blocks = Math.ceil((msg.length + 9) / 64);
  const buf = new Uint8Array(blocks * 64);
  buf.set(msg);
  buf[msg.length] = 0x80;
  const view = new DataView(buf.buffer);
  const bitLen = msg.length * 8;
  view.setUint32(buf.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(buf.length - 4, bitLen >>> 0);
  for (let i = 0; i < blocks; i++) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(i * 64 + t * 4);
    sha256Compress(h, w);
  }
  for (let r = 1; r < count; r++) {
    for (let t = 0; t < 8; t++) w[t] = h[t];
    w[8] = 0x80000000;
    w.fill(0, 9, 15);
    w[15] = 256;
    h.set(SHA256_IV);
    sha256Compress(h, w);
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) ov.setUint32(i * 4, h[i]);
  return out;
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The PKCS#12 password: BMPString bytes (UTF-16BE) with a two-byte null terminator (RFC 7292 B.1). */
const pkcs12Password = (passphrase) => concat(utf16be(passphrase), Uint8Array.of(0, 0));

/**
 * The PKCS#12 key derivation function (RFC 7292 Appendix B.2) with SHA-256 (u = 32, v = 64).
 * id: 1 = key, 2 = IV, 3 = MAC key.
 */
async function pkcs12Kdf(password, salt, id, iterations, n) {
  const u = 32;
  const v = 64;
  const fill = (src) => {
    const len = src.length === 0 ? 0 : v * Math.ceil(src.length / v);
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) out[i] = src[i % src.length];
    return out;
  };
  const D = new Uint8Array(v).fill(id);
  const I = concat(fill(salt), fill(password));
  const out = new Uint8Array(n);
  for (let off = 0, round = 0; off < n; off += u, round++) {
    // A_i = H^r(D || I): the first round with WebCrypto, the rest in JavaScript, whose
    // generic and one-block paths are both checked against WebCrypto here.
    const DI = concat(D, I);
    const first = new Uint8Array(await subtle.digest("SHA-256", DI));
    const second = new Uint8Array(await subtle.digest("SHA-256", first));
    if (!equalBytes(sha256Iterated(DI, 1), first) || !equalBytes(sha256Iterated(DI, 2), second)) {
      throw new Error("internal error: SHA-256 self-check against WebCrypto failed");
    }
    const A = iterations === 1 ? first : sha256Iterated(first, iterations - 1);
    out.set(A.subarray(0, Math.min(u, n - off)), off);
    if (off + u >= n) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block, B = A repeated to v bytes.
    const B = fill(A);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return out;
}

/** PKCS12Attribute ::= SEQUENCE { attrId, attrValues SET OF } for friendlyName and localKeyId. */
function bagAttributes(friendlyName, localKeyId) {
  const attrs = [];
  if (friendlyName) attrs.push(seq(oid(OID.friendlyName), setOf(bmpString(friendlyName))));
  if (localKeyId) attrs.push(seq(oid(OID.localKeyId), setOf(octets(localKeyId))));
  return attrs.length ? [setOf(...attrs)] : [];
}

/** SafeBag ::= SEQUENCE { bagId, bagValue [0] EXPLICIT, bagAttributes SET OF OPTIONAL } (RFC 7292 4.2). */
const safeBag = (bagOid, value, attributes) => seq(oid(bagOid), explicit(0, value), ...attributes);

/**
 * Builds a PFX (RFC 7292 4), the layout OpenSSL 3 writes by default:
 *   AuthenticatedSafe ::= SEQUENCE OF ContentInfo {
 *     encryptedData (PBES2/AES-256-CBC) of SafeContents { certBag... },
 *     data of SafeContents { pkcs8ShroudedKeyBag } }
 *   MacData with HMAC-SHA256, key from the PKCS#12 KDF.
 * certificateDers: X.509 certificates (DER), leaf first. Returns the DER PFX.
 */
export async function buildPkcs12(privateKey, certificateDers, passphrase, { friendlyName, iterations = 600000 } = {}) {
  checkPassphrase(passphrase);
  checkIterations(iterations);
  if (!Array.isArray(certificateDers) || certificateDers.length === 0) {
    throw new Error("buildPkcs12: need at least one certificate (leaf first)");
  }
  for (const [i, c] of certificateDers.entries()) {
    if (!(c instanceof Uint8Array) || c.length < 2 || c[0] !== 0x30) {
      throw new Error(`buildPkcs12: certificate ${i} is not a DER certificate (Uint8Array)`);
    }
  }
  if (friendlyName !== undefined && typeof friendlyName !== "string") throw new Error("friendlyName must be a string");

  // localKeyId: SHA-1 of the leaf certificate, on the key bag and the leaf's cert bag.
  const localKeyId = new Uint8Array(await subtle.digest("SHA-1", certificateDers[0]));

  // pkcs8ShroudedKeyBag: the PBES2 EncryptedPrivateKeyInfo (RFC 7292 4.2.2).
  const keyBag = safeBag(
    OID.pkcs8ShroudedKeyBag,
    await encryptedPrivateKeyInfo(privateKey, passphrase, iterations),
    bagAttributes(friendlyName, localKeyId),
  );
  const keyContents = seq(keyBag);

  // CertBag ::= SEQUENCE { certId x509Certificate, certValue [0] EXPLICIT OCTET STRING } (RFC 7292 4.2.3).
  const certBags = certificateDers.map((der, i) =>
    safeBag(
      OID.certBag,
      seq(oid(OID.x509Certificate), explicit(0, octets(der))),
      i === 0 ? bagAttributes(friendlyName, localKeyId) : [],
    ),
  );
  const certContents = seq(...certBags);

  // EncryptedData ::= SEQUENCE { version 0, EncryptedContentInfo { contentType data,
  //   contentEncryptionAlgorithm, encryptedContent [0] IMPLICIT OCTET STRING } } (RFC 5652 8).
  const { algorithm, ciphertext } = await pbes2Encrypt(certContents, passphrase, iterations);
  const encryptedCerts = seq(
    oid(OID.encryptedData),
    explicit(0, seq(uint(0), seq(oid(OID.data), algorithm, implicitPrim(0, ciphertext)))),
  );
  // ContentInfo ::= SEQUENCE { contentType data, content [0] EXPLICIT OCTET STRING }.
  const plainKey = seq(oid(OID.data), explicit(0, octets(keyContents)));
  const authSafe = seq(encryptedCerts, plainKey);

  // MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER } (RFC 7292 4):
  // HMAC-SHA256 over the AuthenticatedSafe bytes with a key from the KDF (ID 3).
  const macSalt = random(32);
  const macKeyBytes = await pkcs12Kdf(pkcs12Password(passphrase), macSalt, 3, iterations, 32);
  const macKey = await subtle.importKey("raw", macKeyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  macKeyBytes.fill(0);
  const mac = new Uint8Array(await subtle.sign("HMAC", macKey, authSafe));
  const macData = seq(seq(algId(OID.sha256, NULL), octets(mac)), octets(macSalt), uint(iterations));

  // PFX ::= SEQUENCE { version 3, authSafe ContentInfo (data), macData }.
  return seq(uint(3), seq(oid(OID.data), explicit(0, octets(authSafe))), macData);
}

// ---------------------------------------------------------------------------------------
// 6. PEM (RFC 7468)
// ---------------------------------------------------------------------------------------

/** The first PEM block's DER bytes. */
export function pemToDer(pem) {
  if (typeof pem !== "string") throw new Error("pemToDer: PEM must be a string");
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) throw new Error("no PEM block found");
  const b64 = m[2].replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new Error(`the PEM ${m[1]} block is not valid base64`);
  const bin = atob(b64);
  const der = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) der[i] = bin.charCodeAt(i);
  return der;
}

/** DER bytes as a PEM block with 64-character lines. */
export function derToPem(der, label) {
  if (!(der instanceof Uint8Array)) throw new Error("derToPem: DER must be a Uint8Array");
  if (typeof label !== "string" || !/^[A-Z0-9 ]+$/.test(label)) throw new Error("derToPem: invalid label");
  let bin = "";
  for (let i = 0; i < der.length; i += 0x8000) bin += String.fromCharCode(...der.subarray(i, i + 0x8000));
  const b64 = btoa(bin);
  const lines = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
