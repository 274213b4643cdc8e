// Live supervision dashboard: append each audit leaf from the SSE stream without reloading.
// EventSource reconnects by itself and sends Last-Event-ID, so the server replays what was missed.
(function () {
  "use strict";
  var table = document.getElementById("live-table");
  var body = document.getElementById("live-events");
  var status = document.getElementById("live-status");
  if (!table || !body || !window.EventSource) { return; }
  var url = table.getAttribute("data-stream-url");
  var last = table.getAttribute("data-last-id");
  if (last && last !== "-1") { url += (url.indexOf("?") >= 0 ? "&" : "?") + "last_id=" + encodeURIComponent(last); }
  var MAX_ROWS = 200;
  // The page's words for the codes of a leaf (app.core.labels) and Beijing time: never a raw code or UTC.
  var labels = JSON.parse(table.getAttribute("data-labels") || "{}");
  var sections = JSON.parse(table.getAttribute("data-sections") || "{}"); // id -> "code name"
  var sectionLabel = table.getAttribute("data-label-section") || "{id}";
  function word(kind, code) {
    if (!code) { return ""; }
    var table_ = labels[kind] || {};
    return table_[code] || labels.other || "";
  }
  var beijing = new Intl.DateTimeFormat("sv-SE", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
  });
  function localTime(iso) { return iso ? beijing.format(new Date(iso)) : ""; }

  function cell(text, code) {
    var td = document.createElement("td");
    if (code) { var c = document.createElement("code"); c.textContent = text; td.appendChild(c); }
    else { td.textContent = text; }
    return td;
  }

  function add(data) {
    if (body.querySelector('tr[data-idx="' + data.idx + '"]')) { return; }
    var tr = document.createElement("tr");
    tr.setAttribute("data-idx", String(data.idx));
    tr.className = "fresh";
    tr.appendChild(cell(String(data.idx)));
    tr.appendChild(cell(localTime(data.time)));
    var act = cell(word("action", data.action));
    act.setAttribute("data-action", data.action || "");
    tr.appendChild(act);
    tr.appendChild(cell(word("role", data.actor_role)));
    tr.appendChild(cell(word("audit_object", data.object_type) + " " + (data.object_id || "")));
    var sectionName = "";
    if (data.section_id) {
      sectionName = sections[data.section_id] || sectionLabel.replace("{id}", data.section_id);
    }
    tr.appendChild(cell(sectionName));
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > MAX_ROWS) { body.removeChild(body.lastChild); }
  }

  // EventSource reconnects by itself (with Last-Event-ID) after a dropped connection, but not after a refusal
  // (429/503: too many streams): then try again later, waiting longer each time, from the last event seen.
  var base = table.getAttribute("data-stream-url");
  var lastSeen = last;
  function connect(delay) {
    var target = url;
    if (lastSeen && lastSeen !== last) {
      target = base + (base.indexOf("?") >= 0 ? "&" : "?") + "last_id=" + encodeURIComponent(lastSeen);
    }
    var source = new EventSource(target);
    source.addEventListener("open", function () {
      delay = 15000;
      status.textContent = table.getAttribute("data-label-live");
      status.className = "badge ok";
    });
    source.addEventListener("error", function () {
      status.textContent = table.getAttribute("data-label-offline");
      status.className = "badge";
      if (source.readyState !== EventSource.CLOSED) { return; }
      setTimeout(function () { connect(Math.min(delay * 2, 240000)); }, delay * (1 + Math.random()));
    });
    source.addEventListener("leaf", function (ev) {
      if (ev.lastEventId) { lastSeen = ev.lastEventId; }
      try { add(JSON.parse(ev.data)); } catch (e) { /* a malformed event is skipped */ }
    });
  }
  connect(15000);
}());
