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
    tr.appendChild(cell(data.time || ""));
    tr.appendChild(cell(data.action || "", true));
    tr.appendChild(cell(data.actor_role || ""));
    tr.appendChild(cell((data.object_type || "") + " " + (data.object_id || "")));
    tr.appendChild(cell(data.section_id || ""));
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > MAX_ROWS) { body.removeChild(body.lastChild); }
  }

  var source = new EventSource(url);
  source.addEventListener("open", function () {
    status.textContent = table.getAttribute("data-label-live");
    status.className = "badge ok";
  });
  source.addEventListener("error", function () {
    status.textContent = table.getAttribute("data-label-offline");
    status.className = "badge";
  });
  source.addEventListener("leaf", function (ev) {
    try { add(JSON.parse(ev.data)); } catch (e) { /* a malformed event is skipped */ }
  });
}());
