// Browser-side sealing on the bidder's section page (SPEC §3.2, third way).
//
// The summary (the section's opening items as JSON) and each chosen document are encrypted HERE to the
// section's age X25519 recipient with the vendored age-encryption library; the bidder's Ed25519 key (loaded
// into this page only) signs "ggzy-envelope-v1\n<sha256>\n<section id>\n<kind>\n"; only the ciphertext is
// uploaded, through the resumable API (create → PATCH chunks with offsets and checksums → finalize), which
// picks up from the server's offset after a dropped connection. The signed receipt is shown at the end.
// Translated messages come from the form's data-msg-* attributes (rendered with _() by the template).
import { Encrypter } from "../vendor/age-encryption/age-encryption.js";
import { KeyFileError, open } from "./keyfile.js";

const CHUNK = 1024 * 1024; // bytes per PATCH: a dropped connection loses at most this much
const MAX_RETRIES = 8; // consecutive failures of one step before giving up
const AGE_MAGIC = "age-encryption.org/v1\n";
// PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows.
const PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

const form = document.getElementById("browser-seal");
if (form && window.crypto && crypto.subtle) {
  form.hidden = false;
  form.addEventListener("submit", onSubmit);
}

// -- small helpers ------------------------------------------------------------------------------------------

function msg(name, values) {
  const key = "msg" + name.replace(/(^|-)(\w)/g, (_m, _d, c) => c.toUpperCase());
  let text = form.dataset[key] || name;
  for (const [k, v] of Object.entries(values || {})) { text = text.replace("{" + k + "}", v); }
  return text;
}

function setStatus(text) { document.getElementById("seal-status").textContent = text; }

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function hex(buf) { return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join(""); }

function b64(buf) {
  let s = "";
  for (const b of new Uint8Array(buf)) { s += String.fromCharCode(b); }
  return btoa(s);
}

function unb64(text) {
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, ""));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

// The server accepts document names of letters, digits, "-_.() ", spaces and CJK (uploads.NAME_RE).
function safeName(name) {
  const cleaned = name.replace(/[^\w\-. ()\u4e00-\u9fff]/gu, "_").slice(0, 200);
  return cleaned === "." || cleaned === ".." || !cleaned ? "document" : cleaned;
}

class UserError extends Error {}

// -- the signing key -------------------------------------------------------------------------------------

// Accepts the key file made on the keys page (an age file encrypted with the passphrase, static/js/keyfile.js),
// what `openssl genpkey -algorithm ed25519` writes (PEM PKCS#8), the same DER in base64, or the raw 32-byte
// seed in base64 or hex. Returns {key (non-extractable CryptoKey), keyId} or throws UserError. The pasted
// text and the passphrase are read from fields without a name and cleared at once: they are never part of
// a form, and only the non-extractable CryptoKey stays in this page.
async function loadSigningKey() {
  const fileInput = document.getElementById("seal-key-file");
  const pasted = document.getElementById("seal-key-text");
  const passInput = document.getElementById("seal-key-passphrase");
  let text = pasted.value.trim();
  const passphrase = passInput.value;
  pasted.value = "";
  passInput.value = "";
  if (!text && fileInput.files.length) {
    try {
      text = (await open(new Uint8Array(await fileInput.files[0].arrayBuffer()), passphrase)).trim();
    } catch (err) {
      throw new UserError(err instanceof KeyFileError ? msg(err.code === "need-passphrase" ? "need-passphrase" : "bad-passphrase") : msg("bad-key"));
    }
  }
  if (!text) { throw new UserError(msg("no-key")); }
  let der;
  try {
    let bytes;
    if (text.startsWith("-----BEGIN PRIVATE KEY-----")) {
      bytes = unb64(text.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, ""));
    } else if (/^[0-9a-fA-F]{64}$/.test(text)) {
      bytes = Uint8Array.from(text.match(/../g), (h) => parseInt(h, 16));
    } else {
      bytes = unb64(text);
    }
    if (bytes.length === 32 || bytes.length === 64) { // a seed (64: seed ‖ public key, libsodium style)
      der = new Uint8Array([...PKCS8_ED25519, ...bytes.slice(0, 32)]);
    } else {
      der = bytes;
    }
  } catch (_err) {
    throw new UserError(msg("bad-key"));
  }
  let jwk;
  try {
    // Extractable only for a moment, to read the public half (jwk.x) for the key id.
    const temp = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    jwk = await crypto.subtle.exportKey("jwk", temp);
  } catch (err) {
    if (err && err.name === "NotSupportedError") { throw new UserError(msg("no-ed25519")); }
    throw new UserError(msg("bad-key"));
  }
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
  const keyId = hex(await crypto.subtle.digest("SHA-256", unb64(jwk.x))).slice(0, 16);
  const registered = (form.dataset.keys || "").split(" ").filter(Boolean);
  if (!registered.includes(keyId)) { throw new UserError(msg("unregistered")); }
  return { key, keyId };
}

// -- sealing ---------------------------------------------------------------------------------------------

// Encrypts a string or a File to the section recipient; the ciphertext is kept as a Blob (a File is read
// as a stream, so its plaintext is never held whole).
async function seal(encrypter, source) {
  if (typeof source === "string") { return new Blob([await encrypter.encrypt(source)]); }
  const stream = await encrypter.encrypt(source.stream());
  const reader = stream.getReader();
  const parts = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) { break; }
    parts.push(value);
  }
  return new Blob(parts);
}

async function envelope(encrypter, signer, sectionId, kind, name, source) {
  setStatus(msg("sealing", { name }));
  const blob = await seal(encrypter, source);
  const head = new TextDecoder().decode(await blob.slice(0, AGE_MAGIC.length).arrayBuffer());
  if (head !== AGE_MAGIC) { throw new Error("the library did not produce an age file"); }
  const sha256 = hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  const statement = `ggzy-envelope-v1\n${sha256}\n${sectionId}\n${kind}\n`;
  const signature = b64(await crypto.subtle.sign({ name: "Ed25519" }, signer.key, new TextEncoder().encode(statement)));
  return { kind, name, blob, sha256, signature, keyId: signer.keyId, idempotencyKey: crypto.randomUUID() };
}

// -- uploading (resumable) -------------------------------------------------------------------------------

async function apiError(resp) {
  let text = resp.status + " " + resp.statusText;
  try { const data = await resp.json(); if (data && data.message) { text = data.message; } } catch (_e) { /* not JSON */ }
  return new UserError(msg("failed", { reason: text }));
}

// fetch with retries after network errors and 5xx answers (the call must be safe to repeat).
async function retrying(what) {
  for (let attempt = 0; ; attempt++) {
    let resp = null;
    try { resp = await what(); } catch (_err) { resp = null; } // a dropped connection
    if (resp && resp.status < 500) { return resp; }
    if (attempt >= MAX_RETRIES) { throw resp ? await apiError(resp) : new UserError(msg("failed", { reason: "network" })); }
    setStatus(msg("resuming"));
    await sleep(Math.min(500 * 2 ** attempt, 8000));
  }
}

function headers(env, extra) {
  return Object.assign({
    "X-CSRFToken": form.dataset.csrf,
    "Idempotency-Key": env.idempotencyKey,
    "X-Content-SHA256": env.sha256,
    "X-Bid-Key-Id": env.keyId,
    "X-Bid-Signature": env.signature,
  }, extra || {});
}

async function serverOffset(uploadUrl) {
  const resp = await retrying(() => fetch(uploadUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" }));
  if (!resp.ok) { throw await apiError(resp); }
  return Number(resp.headers.get("Upload-Offset"));
}

async function upload(env, progress) {
  setStatus(msg("uploading", { name: env.name }));
  const created = await retrying(() => fetch(form.dataset.uploads, {
    method: "POST",
    credentials: "same-origin",
    headers: headers(env, { "Content-Type": "application/json", Accept: "application/json" }),
    body: JSON.stringify({ kind: env.kind, name: env.name, length: env.blob.size }),
  }));
  if (created.status !== 201) { throw await apiError(created); }
  const uploadUrl = created.headers.get("Location");
  let offset = 0;
  let failures = 0;
  while (offset < env.blob.size) {
    const chunk = await env.blob.slice(offset, offset + CHUNK).arrayBuffer();
    const checksum = b64(await crypto.subtle.digest("SHA-256", chunk));
    let resp = null;
    try {
      resp = await fetch(uploadUrl, {
        method: "PATCH",
        credentials: "same-origin",
        headers: {
          "X-CSRFToken": form.dataset.csrf,
          "Upload-Offset": String(offset),
          "Upload-Checksum": "sha256 " + checksum,
          "Content-Type": "application/offset+octet-stream",
        },
        body: chunk,
      });
    } catch (_err) { resp = null; } // dropped connection: the server may or may not have the chunk
    if (resp && resp.status === 204) {
      offset = Number(resp.headers.get("Upload-Offset"));
      failures = 0;
      progress(env, offset);
      continue;
    }
    // 409 is an offset mismatch (an earlier try did arrive) unless the deadline passed; 5xx and network
    // errors are worth a retry.
    if (resp && resp.status === 409 && (await resp.clone().json().catch(() => ({}))).code === "deadline_passed") {
      throw await apiError(resp);
    }
    if (resp && resp.status < 500 && resp.status !== 409) { throw await apiError(resp); }
    if (++failures > MAX_RETRIES) { throw resp ? await apiError(resp) : new UserError(msg("failed", { reason: "network" })); }
    setStatus(msg("resuming"));
    await sleep(Math.min(500 * 2 ** failures, 8000));
    offset = await serverOffset(uploadUrl); // resume from what the server really has
    progress(env, offset);
  }
  // Finalising twice is harmless: the upload remembers its envelope and the Idempotency-Key its receipt.
  const done = await retrying(() => fetch(uploadUrl + "/finalize", {
    method: "POST", credentials: "same-origin", headers: headers(env, { Accept: "application/json" }),
  }));
  if (done.status !== 200 && done.status !== 201) { throw await apiError(done); }
  return done.json();
}

// -- the page --------------------------------------------------------------------------------------------

function showReceipt(signed) {
  const body = signed.receipt;
  const li = document.createElement("li");
  li.className = "seal-receipt";
  const line = document.createElement("p");
  // Words, not codes: the kind's label; the time in Beijing time is in the receipts panel above.
  const what = body.kind === "summary" ? msg("kind-summary") : `${msg("kind-document")} · ${body.name}`;
  line.textContent = `${what} · ${body.size} B · SHA-256 ${body.sha256}`;
  const pre = document.createElement("pre");
  pre.className = "receipt-json";
  pre.textContent = JSON.stringify(signed, null, 2);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([pre.textContent], { type: "application/json" }));
  link.download = `receipt-${body.section_id}-${body.kind}-${body.name}.json`;
  link.textContent = msg("download");
  const details = document.createElement("details"); // the full signed receipt, folded away
  const label = document.createElement("summary");
  label.textContent = msg("receipt");
  details.append(label, pre);
  li.append(line, link, details);
  document.getElementById("seal-receipts").appendChild(li);
}

// The receipts panel (bidding/_envelopes.html) as the server now has it: reloaded after each upload, so
// the page never says "nothing submitted" about an envelope that has just been received.
async function refreshPanel() {
  const holder = document.getElementById("envelopes");
  if (!holder || !holder.dataset.url) { return; }
  try {
    const resp = await fetch(holder.dataset.url, { credentials: "same-origin", headers: { Accept: "text/html" } });
    if (resp.ok) { holder.innerHTML = await resp.text(); }
  } catch (_err) { /* the receipt shown below the form is enough; a reload shows the panel */ }
}

function hasBidOnFile() {
  const panel = document.getElementById("envelopes-panel");
  return panel && panel.dataset.state === "submitted";
}

async function onSubmit(event) {
  event.preventDefault();
  const button = document.getElementById("seal-submit");
  const bar = document.getElementById("seal-progress");
  button.disabled = true;
  delete form.dataset.state;
  try {
    const sectionId = form.dataset.sectionId;
    const signer = await loadSigningKey();
    // Asked once the key is known good, right before anything is sealed or sent.
    if (hasBidOnFile() && !window.confirm(msg("replace"))) { return; }
    const encrypter = new Encrypter();
    encrypter.addRecipient(form.dataset.recipient);

    // The summary: every declared opening item, as the opening (bidding/opening.py) reads it.
    const summary = { section_id: Number(sectionId) };
    for (const input of form.querySelectorAll("input[data-item], select[data-item]")) {
      if (input.value.trim()) { summary[input.dataset.item] = input.value.trim(); }
    }

    bar.hidden = false;
    bar.removeAttribute("value"); // indeterminate while sealing
    const envelopes = [await envelope(encrypter, signer, sectionId, "summary", "summary", JSON.stringify(summary))];
    for (const file of document.getElementById("seal-documents").files) {
      envelopes.push(await envelope(encrypter, signer, sectionId, "document", safeName(file.name), file));
    }

    const total = envelopes.reduce((n, e) => n + e.blob.size, 0);
    const sent = new Map();
    bar.max = total;
    bar.value = 0;
    const progress = (env, offset) => {
      sent.set(env, offset);
      bar.value = Array.from(sent.values()).reduce((a, b) => a + b, 0);
    };
    for (const env of envelopes) {
      showReceipt(await upload(env, progress));
      await refreshPanel();
      progress(env, env.blob.size);
      setStatus(msg("received", { name: env.name }));
    }
    setStatus(msg("done"));
    form.dataset.state = "done"; // for tests and styling
  } catch (err) {
    setStatus(err instanceof UserError ? err.message : msg("failed", { reason: String(err && err.message || err) }));
    form.dataset.state = "failed";
  } finally {
    button.disabled = false;
  }
}
