// Passphrase-protected key files, made and opened in the browser (issue 17: no terminal needed).
//
// A key file is a standard age file encrypted with an age passphrase (one scrypt stanza), so the reference
// tool opens it too: `age -d custodian-identity.age` asks for the passphrase and prints the age identity
// (age-keygen's format), and `age -d -i custodian-identity.age share.age` uses it directly; for a bidder,
// `age -d bidder-signing-key.age > key.pem` gives the PKCS#8 PEM that `openssl` and the ggzy-bid tool read.
// Nothing here talks to the server: the secret stays in this page's memory and in the user's own file.
import { Decrypter, Encrypter } from "../vendor/age-encryption/age-encryption.js";

export const AGE_MAGIC = "age-encryption.org/v1\n";
export const MIN_PASSPHRASE = 10; // characters; scrypt slows guessing, it cannot save a short passphrase
const WORK_FACTOR = 18; // what `age -p` uses; the library refuses files above 20 when opening

export class KeyFileError extends Error {
  constructor(code) { super(code); this.code = code; }
}

export function isAgeFile(bytes) {
  const head = new TextDecoder().decode(bytes.slice(0, AGE_MAGIC.length));
  return head === AGE_MAGIC;
}

// Encrypts `text` (the identity or the PEM) with `passphrase`; returns the age file's bytes.
export async function protect(text, passphrase) {
  if (passphrase.length < MIN_PASSPHRASE) { throw new KeyFileError("short"); }
  const encrypter = new Encrypter();
  encrypter.setPassphrase(passphrase);
  encrypter.setScryptWorkFactor(WORK_FACTOR);
  return encrypter.encrypt(text);
}

// The text inside a key file: decrypted with `passphrase` when it is an age file, as is when it is a plain
// file (what age-keygen or openssl wrote). Throws KeyFileError("passphrase") on a wrong passphrase.
export async function open(bytes, passphrase) {
  if (!isAgeFile(bytes)) { return new TextDecoder().decode(bytes); }
  if (!passphrase) { throw new KeyFileError("need-passphrase"); }
  const decrypter = new Decrypter();
  decrypter.addPassphrase(passphrase);
  try {
    return await decrypter.decrypt(bytes, "text");
  } catch (_err) {
    throw new KeyFileError("passphrase");
  }
}

// The first "AGE-SECRET-KEY-1…" line of an age-keygen identity file.
export function ageIdentity(text) {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.startsWith("AGE-SECRET-KEY-1"));
  if (!line) { throw new KeyFileError("not-identity"); }
  return line;
}

function pem(label, der) {
  let s = "";
  for (const b of new Uint8Array(der)) { s += String.fromCharCode(b); }
  const body = btoa(s).match(/.{1,64}/g).join("\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

// A fresh Ed25519 key pair (WebCrypto): the private key as PKCS#8 PEM, the public key as SPKI PEM.
export async function newSigningKey() {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const priv = await crypto.subtle.exportKey("pkcs8", pair.privateKey);
  const pub = await crypto.subtle.exportKey("spki", pair.publicKey);
  return { privatePem: pem("PRIVATE KEY", priv), publicPem: pem("PUBLIC KEY", pub) };
}

// Offers `bytes` as a download through `link` (an <a> the user clicks).
export function offer(link, bytes, filename) {
  if (link.href && link.href.startsWith("blob:")) { URL.revokeObjectURL(link.href); }
  link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  link.download = filename;
}
