// What a person typed into a form they sent is kept for this browser tab only (sessionStorage), so that a
// form the server refused before reading it — an expired session or page, i.e. the CSRF check — is filled
// in again when it is opened next. Only that case restores anything: the refusal page marks the moment,
// and only a draft sent just before it comes back, once. Secrets are never kept: passwords, one-time
// codes, key shares, tokens, files and hidden fields, and nothing from a form marked data-no-draft.
const PREFIX = "form-draft:";
const REFUSED = "form-draft-refused";
const SENT_BEFORE_REFUSAL_MS = 60 * 1000;
const REOPEN_WITHIN_MS = 2 * 60 * 60 * 1000;
const SECRET_NAME = /csrf|pass|secret|mnemonic|share|private|otp|token|^code$/i;
const NOT_KEPT = new Set(["password", "hidden", "file", "submit", "button", "reset", "image"]);

function store() {
  try { return window.sessionStorage; } catch { return null; }  // storage may be switched off
}

function keyOf(form) {
  const url = new URL(form.getAttribute("action") || location.href, location.href);
  return PREFIX + url.pathname + url.search;
}

function isPost(form) {
  return (form.getAttribute("method") || "get").toLowerCase() === "post" && !form.hasAttribute("data-no-draft");
}

function kept(el) {
  return Boolean(el.name) && !el.disabled && !el.readOnly && !NOT_KEPT.has(el.type)
    && !SECRET_NAME.test(el.name) && !(el.autocomplete || "").includes("one-time-code")
    && !el.closest("[data-no-draft]");
}

function save(form) {
  const storage = store();
  if (!storage || !(form instanceof HTMLFormElement) || !isPost(form)) { return; }
  const fields = [];
  for (const el of form.elements) {
    if (!kept(el)) { continue; }
    if (el.type === "checkbox" || el.type === "radio") {
      fields.push([el.name, el.value, el.checked]);
    } else if (el.tagName === "SELECT" && el.multiple) {
      fields.push([el.name, Array.from(el.selectedOptions, (o) => o.value), null]);
    } else if (el.value !== "") {
      fields.push([el.name, el.value, null]);
    }
  }
  if (!fields.some(([, value, checked]) => checked === null || checked)) { return; }
  try { storage.setItem(keyOf(form), JSON.stringify({ at: Date.now(), fields })); } catch { /* full */ }
}

function fill(form, fields) {
  for (const [name, value, checked] of fields) {
    const found = form.elements.namedItem(name);
    const els = found instanceof RadioNodeList ? Array.from(found) : found ? [found] : [];
    for (const el of els) {
      if (!kept(el)) { continue; }
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.value === value) { el.checked = checked; }
      } else if (Array.isArray(value) && el.tagName === "SELECT") {
        for (const option of el.options) { option.selected = value.includes(option.value); }
      } else if (!Array.isArray(value)) {
        el.value = value;
      }
      el.dispatchEvent(new Event("input", { bubbles: true }));
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }
}

function restore(storage) {
  const refused = Number(storage.getItem(REFUSED) || 0);
  if (!refused) { return; }
  if (Date.now() - refused > REOPEN_WITHIN_MS) { storage.removeItem(REFUSED); return; }
  for (const form of document.forms) {
    if (!isPost(form)) { continue; }
    const key = keyOf(form);
    let draft = null;
    try { draft = JSON.parse(storage.getItem(key) || "null"); } catch { draft = null; }
    if (!draft || refused < draft.at || refused - draft.at > SENT_BEFORE_REFUSAL_MS) { continue; }
    fill(form, draft.fields);
    storage.removeItem(key);
    storage.removeItem(REFUSED);
    const note = document.createElement("div");
    note.className = "flash flash-info";
    note.id = "draft-restored";
    note.setAttribute("role", "status");
    note.textContent = document.body.dataset.draftRestored || "";
    form.before(note);
    form.querySelector("input:not([type=hidden]), textarea, select")?.focus();
    return;
  }
}

// Drafts live no longer than they can be needed: a minute after sending, unless a refusal marked them (then
// until they are restored, or two hours). What was typed does not linger in the tab for the next person.
function prune(storage, keepSince) {
  for (let i = storage.length - 1; i >= 0; i -= 1) {
    const key = storage.key(i);
    if (!key || !key.startsWith(PREFIX)) { continue; }
    let at = 0;
    try { at = Number(JSON.parse(storage.getItem(key) || "{}").at) || 0; } catch { at = 0; }
    if (at < keepSince) { storage.removeItem(key); }
  }
}

const storage = store();
if (storage) {
  if (document.getElementById("form-refused")) {
    prune(storage, Date.now() - SENT_BEFORE_REFUSAL_MS);
    storage.setItem(REFUSED, String(Date.now()));
  } else {
    restore(storage);
    const refused = Number(storage.getItem(REFUSED) || 0);
    prune(storage, (refused || Date.now()) - SENT_BEFORE_REFUSAL_MS);
  }
  document.addEventListener("submit", (event) => save(event.target), true);
}
