// Creating a key in the browser (issue 17): a custodian's age X25519 identity (bidding/custodian.html) or a
// bidder's Ed25519 signing key (bidding/keys.html). The secret half is encrypted at once with the user's
// passphrase into a standard age file (static/js/keyfile.js) that the user downloads; only after the user
// ticks "I have saved the file" is the PUBLIC half put into the page's existing registration form. The
// passphrase fields have no name and are cleared; nothing secret is ever part of a form or a request.
// Translated messages come from the widget's data-msg-* attributes (rendered with _() by the template).
import { generateX25519Identity, identityToRecipient } from "../vendor/age-encryption/age-encryption.js";
import { KeyFileError, MIN_PASSPHRASE, newSigningKey, offer, protect } from "./keyfile.js";

const box = document.getElementById("keygen");
if (box && window.crypto && crypto.subtle) { setUp(box); }

function setUp(widget) {
  const target = document.getElementById(widget.dataset.target);
  const form = target.form;
  const status = document.getElementById("keygen-status");
  const saved = document.getElementById("keygen-saved");
  const msg = (name) => widget.dataset["msg" + name.replace(/(^|-)(\w)/g, (_m, _d, c) => c.toUpperCase())] || name;
  let publicKey = null;
  widget.hidden = false;

  document.getElementById("keygen-create").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    const pass = document.getElementById("keygen-pass");
    const again = document.getElementById("keygen-pass2");
    if (pass.value.length < MIN_PASSPHRASE) { status.textContent = msg("short"); return; }
    if (pass.value !== again.value) { status.textContent = msg("mismatch"); return; }
    button.disabled = true;
    status.textContent = msg("working");
    try {
      let secretText;
      if (widget.dataset.kind === "custodian") {
        const identity = await generateX25519Identity();
        publicKey = await identityToRecipient(identity);
        // age-keygen's format, so `age -d` gives a file the age tool takes with -i.
        secretText = `# created: ${new Date().toISOString()}\n# public key: ${publicKey}\n${identity}\n`;
      } else {
        const pair = await newSigningKey();
        publicKey = pair.publicPem;
        secretText = pair.privatePem;
      }
      const file = await protect(secretText, pass.value);
      secretText = null;
      offer(document.getElementById("keygen-download"), file, widget.dataset.filename);
      pass.value = "";
      again.value = "";
      saved.checked = false;
      target.value = "";
      document.getElementById("keygen-public").textContent = widget.dataset.kind === "custodian" ? publicKey : "";
      document.getElementById("keygen-backup").hidden = false;
      status.textContent = msg("ready");
      widget.dataset.state = "ready"; // for tests and styling
    } catch (err) {
      status.textContent = err instanceof KeyFileError ? msg(err.code) : (err && err.name === "NotSupportedError" ? msg("unsupported") : msg("failed"));
      widget.dataset.state = "failed";
    } finally {
      button.disabled = false;
    }
  });

  // Only the public half goes into the registration form, and only once the backup is confirmed.
  saved.addEventListener("change", () => {
    target.value = saved.checked && publicKey ? publicKey : "";
    status.textContent = saved.checked ? msg("register") : msg("ready");
  });
  const remind = () => { status.textContent = msg("save-first"); };
  target.addEventListener("invalid", () => { if (publicKey && !saved.checked) { remind(); } }); // a required field
  form.addEventListener("submit", (event) => {
    if (publicKey && !saved.checked && !target.value.trim()) { event.preventDefault(); remind(); }
  });
}
