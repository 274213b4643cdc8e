// A custodian submits an opening-key share in one step (issue 17, bidding/custodian.html): the page reads the
// custodian's identity file (the passphrase-protected file made by static/js/keygen.js, or a plain
// age-keygen file), fetches the encrypted share, decrypts it HERE with the vendored age library and posts
// only the share's words through the existing form (which asks for the step-up code like before). The
// identity file and the passphrase are read from fields without a name, and cleared.
// Translated messages come from #shares' data-msg-* attributes (rendered with _() by the template).
import { Decrypter } from "../vendor/age-encryption/age-encryption.js";
import { KeyFileError, ageIdentity, open } from "./keyfile.js";

const shares = document.getElementById("shares");
if (shares && window.crypto && crypto.subtle) {
  for (const form of shares.querySelectorAll("form.share-browser")) {
    form.hidden = false;
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(form); });
  }
}

function msg(name) {
  return shares.dataset["msg" + name.replace(/(^|-)(\w)/g, (_m, _d, c) => c.toUpperCase())] || name;
}

async function submit(form) {
  const status = form.querySelector(".share-status");
  const fileInput = form.querySelector("input.share-identity");
  const passInput = form.querySelector("input.share-passphrase");
  const button = form.querySelector("button[type=submit]");
  const words = form.querySelector("input[name=mnemonic]");
  if (!fileInput.files.length) { status.textContent = msg("no-file"); return; }
  button.disabled = true;
  status.textContent = msg("working");
  try {
    const bytes = new Uint8Array(await fileInput.files[0].arrayBuffer());
    const identity = ageIdentity(await open(bytes, passInput.value));
    passInput.value = "";
    const resp = await fetch(form.dataset.share, { credentials: "same-origin" });
    if (!resp.ok) { throw new KeyFileError("fetch"); }
    const decrypter = new Decrypter();
    decrypter.addIdentity(identity);
    let mnemonic;
    try {
      mnemonic = await decrypter.decrypt(new Uint8Array(await resp.arrayBuffer()), "text");
    } catch (_err) {
      throw new KeyFileError("wrong-identity");
    }
    fileInput.value = "";
    words.value = mnemonic.trim();
    status.textContent = msg("sending");
    form.dataset.state = "sending"; // for tests and styling
    form.submit(); // the ordinary POST: CSRF token, step-up check, then the opening hall
  } catch (err) {
    status.textContent = err instanceof KeyFileError ? msg(err.code) : msg("failed");
    form.dataset.state = "failed";
    button.disabled = false;
  }
}
