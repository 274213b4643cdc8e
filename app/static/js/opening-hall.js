// The online opening hall: follows the opening:<section> channel over Server-Sent Events. On every event the
// page fetches its live parts again, rendered by the server for this viewer (bidding/_hall_live.html: the
// counts, the record table with its header row, and the forms this viewer may use — confirm the record,
// object on the spot, answer an objection), and swaps each part in. Nothing is rebuilt here from codes, so
// every role sees exactly what a reload would show, in its language.
(function () {
  "use strict";
  var hall = document.getElementById("hall");
  if (!hall || !window.EventSource || !window.fetch) { return; }
  var liveUrl = hall.getAttribute("data-live");
  var status = document.getElementById("hall-live-status");
  var pending = null;
  var inFlight = false;
  var again = false;

  function setStatus(live) {
    if (!status) { return; }
    status.textContent = status.getAttribute(live ? "data-label-live" : "data-label-offline");
    status.className = live ? "badge ok" : "badge";
  }

  // A part the viewer is typing in is left alone (nothing typed is lost) and refreshed once they leave it.
  function busy(part) {
    var el = document.activeElement;
    return !!(el && part.contains(el) && (el.tagName === "TEXTAREA" || el.tagName === "INPUT") && el.value);
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
    doc.querySelectorAll("[data-part]").forEach(function (fresh) {
      var name = fresh.getAttribute("data-part");
      var current = hall.querySelector('[data-part="' + name + '"]');
      if (!current) { hall.appendChild(document.importNode(fresh, true)); return; }
      if (busy(current)) {
        current.addEventListener("focusout", function later() {
          current.removeEventListener("focusout", later);
          schedule(0);
        });
        return;
      }
      current.replaceWith(document.importNode(fresh, true));
    });
  }

  function refresh() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    fetch(liveUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (resp) { return resp.ok ? resp.text() : null; })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { /* the next event or reconnect refreshes again */ })
      .then(function () {
        inFlight = false;
        if (again) { again = false; schedule(0); }
      });
  }

  // Events come in bursts (a share, then the record): one fetch for a burst, spread a little across viewers.
  function schedule(delay) {
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; refresh(); }, delay);
  }

  // EventSource reconnects by itself after a dropped connection, but not after a refusal (429: too many
  // streams from this address; 503: the live service is full): then try again later, waiting longer each time.
  function connect(delay) {
    var source = new EventSource(hall.getAttribute("data-events"));
    source.onmessage = function () { schedule(150 + Math.random() * 350); };
    source.onopen = function () {
      delay = 15000;
      setStatus(true);
      schedule(0); // catch up on whatever happened while not connected
    };
    source.onerror = function () {
      setStatus(false);
      if (source.readyState !== EventSource.CLOSED) { return; }
      setTimeout(function () { connect(Math.min(delay * 2, 240000)); }, delay * (1 + Math.random()));
    };
  }
  connect(15000);
}());
