// Signet enrollment pages: the parts only a browser can do. Loaded as a module under
// CSP script-src 'self'; the pages work without it except for generating a key.
//  - the request form: tabs, reading an uploaded CSR (PEM or DER) into the text area, and
//    "generate a key in this browser" (WebCrypto key, CSR built here, key saved encrypted
//    and/or kept in IndexedDB);
//  - a request's page: if this browser holds the certificate's key, offer a PKCS#12.
import {
  generateKeyPair, buildCsr, exportEncryptedPkcs8, buildPkcs12, derToPem,
} from "./pkcs10.js";

const DB = "signet-keys";
const STORE = "keys";

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "spki" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function dbCall(mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
  });
}

function b64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function download(name, type, data) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function words(text) {
  return text.split(/[\s,]+/).map((w) => w.trim()).filter(Boolean);
}

function fileLabel(cn) {
  return (cn || "key").replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60);
}

function setupRequestForm(form) {
  const tabs = document.getElementById("mode-tabs");
  const tabCsr = document.getElementById("tab-csr");
  const tabKeygen = document.getElementById("tab-keygen");
  const panelCsr = document.getElementById("mode-csr");
  const panelKeygen = document.getElementById("mode-keygen");
  const submitCsr = document.getElementById("submit-csr");
  const submitKeygen = document.getElementById("kg-submit");
  const message = document.getElementById("kg-message");
  const csr = document.getElementById("csr");
  const canGenerate = Boolean(globalThis.crypto && crypto.subtle && globalThis.indexedDB);

  const select = (keygen) => {
    tabCsr.setAttribute("aria-selected", String(!keygen));
    tabKeygen.setAttribute("aria-selected", String(keygen));
    panelCsr.hidden = keygen;
    panelKeygen.hidden = !keygen;
    submitCsr.hidden = keygen;
    submitKeygen.hidden = !keygen;
  };
  if (canGenerate) {
    tabs.hidden = false;
    tabCsr.addEventListener("click", () => select(false));
    tabKeygen.addEventListener("click", () => select(true));
    for (const t of [tabCsr, tabKeygen]) {
      t.addEventListener("keydown", (e) => {
        if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
          const other = t === tabCsr ? tabKeygen : tabCsr;
          other.focus();
          other.click();
        }
      });
    }
  }

  document.getElementById("csr-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    csr.value = bytes[0] === 0x30
      ? derToPem(bytes, "CERTIFICATE REQUEST")
      : new TextDecoder().decode(bytes);
  });

  const passFields = document.getElementById("kg-pass-fields");
  for (const r of document.querySelectorAll("input[name=kg-store]")) {
    r.addEventListener("change", () => {
      passFields.hidden = document.getElementById("kg-store-browser").checked;
    });
  }

  // Enter in a key-generation field generates the key rather than posting an empty CSR.
  form.addEventListener("submit", (e) => {
    if (!panelKeygen.hidden) {
      e.preventDefault();
      submitKeygen.click();
    }
  });

  submitKeygen.addEventListener("click", async () => {
    const alg = document.getElementById("kg-alg").value;
    const commonName = document.getElementById("kg-cn").value.trim();
    const dnsNames = words(document.getElementById("kg-dns").value);
    const emails = words(document.getElementById("kg-email").value);
    const toFile = document.getElementById("kg-store-file").checked;
    const pass = document.getElementById("kg-pass").value;
    const say = (text) => { message.textContent = text; };
    if (!commonName && dnsNames.length === 0 && emails.length === 0) {
      say("Give a common name, a DNS name or an e-mail address.");
      return;
    }
    if (toFile) {
      if (pass.length < 8) { say("The passphrase must have at least 8 characters."); return; }
      if (pass !== document.getElementById("kg-pass2").value) { say("The passphrases differ."); return; }
    }
    submitKeygen.disabled = true;
    try {
      say("Generating the key…");
      const keys = await generateKeyPair(alg, toFile);
      const pem = await buildCsr(keys, alg, { commonName, dnsNames, emails });
      const spki = b64(await crypto.subtle.exportKey("spki", keys.publicKey));
      if (toFile) {
        say("Encrypting the private key…");
        const enc = await exportEncryptedPkcs8(keys.privateKey, pass);
        download(`${fileLabel(commonName || dnsNames[0] || emails[0])}.key.pem`, "application/x-pem-file", enc);
      }
      await dbCall("readwrite", (s) => s.put({
        spki, privateKey: keys.privateKey, alg, extractable: toFile,
        label: commonName || dnsNames[0] || emails[0], created: new Date().toISOString(),
      }));
      csr.value = pem;
      say("Submitting the request…");
      form.submit();
    } catch (err) {
      say(`Could not generate the request: ${err.message}`);
      submitKeygen.disabled = false;
    }
  });
}

async function setupBrowserKey(box) {
  if (!(globalThis.indexedDB && crypto.subtle)) return;
  let entry;
  try {
    entry = await dbCall("readonly", (s) => s.get(box.dataset.spki));
  } catch {
    return;
  }
  if (!entry) return;
  box.hidden = false;
  const form = document.getElementById("p12-form");
  const msg = document.getElementById("p12-message");
  if (!entry.extractable) {
    document.getElementById("browser-key-text").textContent =
      "This browser holds the private key of this certificate, non-extractable: it cannot be exported.";
    form.hidden = true;
    return;
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const pass = document.getElementById("p12-pass").value;
    if (pass.length < 8) { msg.textContent = "The passphrase must have at least 8 characters."; return; }
    const ders = [box.dataset.certificate, ...box.dataset.chain.split(",").filter(Boolean)].map(unb64);
    try {
      msg.textContent = "Building the PKCS#12 file…";
      const p12 = await buildPkcs12(entry.privateKey, ders, pass, { friendlyName: entry.label || "signet" });
      download(`${fileLabel(entry.label)}-${box.dataset.name}.p12`, "application/x-pkcs12", p12);
      msg.textContent = "Saved the PKCS#12 file.";
    } catch (err) {
      msg.textContent = `Could not build the PKCS#12 file: ${err.message}`;
    }
  });
}

const form = document.getElementById("enroll-form");
if (form) setupRequestForm(form);
const box = document.getElementById("browser-key");
if (box && box.dataset.spki) setupBrowserKey(box);
