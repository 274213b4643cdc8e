// The online opening hall: follows the opening:<section> channel over Server-Sent Events and updates the page.
(function () {
  "use strict";
  var hall = document.getElementById("hall");
  if (!hall || !window.EventSource) { return; }
  // The page's words for the codes the channel carries (app.core.labels): never a raw code.
  var labels = JSON.parse(hall.getAttribute("data-labels") || "{}");
  function word(kind, code) { return ((labels[kind] || {})[code]) || labels.other || ""; }
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function cell(tr, content) { var td = document.createElement("td"); td.textContent = content; tr.appendChild(td); return td; }
  function renderRecord(record) {
    var box = document.getElementById("record");
    if (!box || !record) { return; }
    var table = document.createElement("table");
    table.className = "table";
    table.id = "record-table";
    var body = document.createElement("tbody");
    record.entries.forEach(function (e) {
      var tr = document.createElement("tr");
      cell(tr, String(e.position));
      cell(tr, e.bidder);
      cell(tr, Object.keys(e.declared).map(function (k) { return word("opening_item", k) + ": " + e.declared[k]; }).join("; "));
      cell(tr, e.envelopes.map(function (v) { return word("envelope_kind", v.kind) + (v.kind === "summary" ? "" : " " + v.name) + " " + v.sha256.slice(0, 16) + "…"; }).join("\n"));
      cell(tr, word("entry_status", e.status) + (e.reason ? " " + e.reason : ""));
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.replaceChildren(table);
  }
  function onMessage(msg) {
    var data = JSON.parse(msg.data);
    if (data.event === "started") { text("ceremony-status", word("ceremony_status", "collecting")); }
    if (data.event === "share") { text("share-count", String(data.shares)); }
    if (data.event === "postponed") { text("ceremony-status", word("ceremony_status", "postponed")); }
    // Fewer than 3 bidders: nothing is decrypted; the page from the server states the count and the rule.
    if (data.event === "not_opened") { window.location.reload(); }
    if (data.event === "record") { renderRecord(data.record); text("ceremony-status", word("ceremony_status", "decrypting")); }
    if (data.event === "completed") { renderRecord(data.record); text("ceremony-status", word("ceremony_status", "completed")); text("section-status", word("section_status", data.status)); }
    if (data.event === "objection" || data.event === "answer" || data.event === "confirmation") {
      var list = document.getElementById("objections");
      if (list && data.body) { var li = document.createElement("li"); li.textContent = data.body; list.appendChild(li); }
    }
  }
  // EventSource reconnects by itself after a dropped connection, but not after a refusal (429: too many
  // streams from this address; 503: the live service is full): then try again later, waiting longer each time.
  function connect(delay) {
    var source = new EventSource(hall.getAttribute("data-events"));
    source.onmessage = onMessage;
    source.onopen = function () { delay = 15000; };
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) { return; }
      setTimeout(function () { connect(Math.min(delay * 2, 240000)); }, delay * (1 + Math.random()));
    };
  }
  connect(15000);
}());
