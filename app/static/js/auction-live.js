// The live panel of a listing. An EventSource on the listing's stream (/auctions/<id>/events) brings every
// accepted bid (number, price, bidder number, phase, server time, countdown end) and every change of state;
// the page applies it without a reload. The server decides everything; this only shows it. The countdown is
// the server's countdown end against the server's clock (an offset taken from the page and from each stream
// opening), never the client's clock alone. When the stream fails the page reads the listing's JSON state
// every few seconds until the stream is back. Words come from the page's data- attributes (translated there).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var stateUrl = live.getAttribute("data-state");
  var streamUrl = live.getAttribute("data-stream");
  var myNumber = live.getAttribute("data-my-number") || "";
  var statusLabels = JSON.parse(live.getAttribute("data-status-labels") || "{}");
  var phaseLabels = JSON.parse(live.getAttribute("data-phase-labels") || "{}");
  var status = live.getAttribute("data-status");
  var countdown = document.getElementById("countdown");
  var offset = 0; // server clock minus client clock, in milliseconds
  var deadline = null; // the countdown end, server clock, milliseconds since the epoch
  var polling = null;
  var settling = false;
  var EIGHT_HOURS = 8 * 3600 * 1000;

  function word(name) { return live.getAttribute("data-label-" + name) || ""; }

  function syncClock(iso) {
    var at = Date.parse(iso);
    if (!isNaN(at)) { offset = at - Date.now(); }
  }

  function serverNow() { return Date.now() + offset; }

  function money(text) {
    if (text === null || text === undefined || text === "") { return "—"; }
    var parts = String(text).split(".");
    return parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + ((parts[1] || "") + "00").slice(0, 2);
  }

  // An instant in Beijing time (UTC+8, no daylight saving): "YYYY-MM-DD HH:MM:SS".
  function beijing(ms) { return new Date(ms + EIGHT_HOURS).toISOString().slice(0, 19).replace("T", " "); }

  function set(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function setDeadline(iso) {
    deadline = iso ? Date.parse(iso) : null;
    if (countdown) { countdown.setAttribute("data-ends", iso || ""); }
    tick();
  }

  function tick() {
    set("server-time", beijing(serverNow()));
    if (!countdown) { return; }
    if (deadline === null || isNaN(deadline)) {
      countdown.textContent = "—";
      return;
    }
    var left = Math.max(0, Math.ceil((deadline - serverNow()) / 1000));
    if (left > 0) {
      var m = Math.floor(left / 60), s = left % 60;
      countdown.textContent = m + ":" + (s < 10 ? "0" : "") + s + " " + word("left");
    } else {
      countdown.textContent = word("over");
      settle();
    }
  }

  function setStatus(value) {
    status = value;
    live.setAttribute("data-status", value);
    set("listing-status", statusLabels[value] || "");
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function addRow(h) {
    var body = document.getElementById("history-rows");
    if (!body || body.querySelector('tr[data-seq="' + h.seq + '"]')) { return; }
    var row = document.createElement("tr");
    row.setAttribute("data-seq", String(h.seq));
    row.setAttribute("data-bidder", String(h.bidder_number));
    row.setAttribute("data-amount", String(h.amount));
    cell(row, String(h.seq));
    cell(row, String(h.bidder_number));
    cell(row, money(h.amount));
    cell(row, phaseLabels[h.phase] || "");
    cell(row, beijing(Date.parse(h.placed_at)).slice(11));
    cell(row, h.leaf_idx === undefined || h.leaf_idx === null ? "" : String(h.leaf_idx));
    body.appendChild(row);
    var empty = document.getElementById("history-empty");
    if (empty) { empty.hidden = true; }
  }

  // The viewer's rank from the history: the best bid of each bidder number, highest first.
  function standing() {
    if (!myNumber) { return; }
    var best = {};
    var rows = document.querySelectorAll("#history-rows tr");
    for (var i = 0; i < rows.length; i++) {
      var who = rows[i].getAttribute("data-bidder"), amount = parseFloat(rows[i].getAttribute("data-amount"));
      if (!(who in best) || amount > best[who]) { best[who] = amount; }
    }
    if (!(myNumber in best)) {
      set("my-rank", "—");
      set("my-standing", "—");
      return;
    }
    var rank = 1;
    for (var other in best) {
      if (other !== myNumber && best[other] > best[myNumber]) { rank += 1; }
    }
    set("my-rank", String(rank));
    set("my-standing", rank === 1 ? word("leading") : word("outbid"));
  }

  function onBid(ev) {
    set("current-price", money(ev.price));
    set("next-minimum", money(ev.next_minimum));
    if (ev.status) { setStatus(ev.status); }
    if (ev.countdown_ends_at) { setDeadline(ev.countdown_ends_at); }
    addRow({ seq: ev.seq, bidder_number: ev.bidder_number, amount: ev.price, phase: ev.phase,
             placed_at: ev.placed_at, leaf_idx: ev.leaf_idx });
    standing();
    var input = document.getElementById("amount");
    if (input && document.activeElement !== input && ev.next_minimum &&
        !(parseFloat(input.value) >= parseFloat(ev.next_minimum))) {
      input.value = ev.next_minimum;
    }
  }

  function onStatus(ev) {
    setStatus(ev.status);
    if (ev.ended_at) { // the result is public now: the page shows it
      window.location.reload();
      return;
    }
    if (ev.price) { set("current-price", money(ev.price)); }
    if (ev.next_minimum) { set("next-minimum", money(ev.next_minimum)); }
    setDeadline(ev.countdown_ends_at);
  }

  function apply(state) {
    syncClock(state.server_time);
    setStatus(state.status);
    set("current-price", money(state.current_price));
    set("next-minimum", money(state.next_minimum));
    (state.history || []).forEach(addRow);
    standing();
    setDeadline(state.countdown_ends_at);
    if (state.ended_at) { window.location.reload(); }
  }

  function refresh() {
    if (!window.fetch) { window.location.reload(); return; }
    fetch(stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (state) { if (state) { apply(state); } })
      .catch(function () { /* the next try */ });
  }

  // The countdown ran out on this clock: reading the state makes the server settle the end (once a second
  // at most), and the end event or the state then shows the result.
  function settle() {
    if (settling || status !== "timed_bidding") { return; }
    settling = true;
    refresh();
    window.setTimeout(function () { settling = false; }, 2000);
  }

  function startPolling() {
    set("live-status", word("offline"));
    if (polling === null) { polling = window.setInterval(refresh, 5000); }
  }

  function connect() {
    if (!window.EventSource || !streamUrl) { startPolling(); return; }
    var opened = false;
    var source = new EventSource(streamUrl);
    source.onmessage = function (msg) {
      var ev;
      try { ev = JSON.parse(msg.data); } catch (err) { return; }
      if (ev.kind === "hello") {
        syncClock(ev.server_time);
        set("live-status", word("live"));
        live.classList.add("streaming");
        if (polling !== null) { window.clearInterval(polling); polling = null; }
        if (opened) { refresh(); } // a reconnect: catch up on what passed meanwhile
        opened = true;
      } else if (ev.kind === "bid") {
        onBid(ev);
      } else if (ev.kind === "status") {
        onStatus(ev);
      }
    };
    source.onerror = function () {
      live.classList.remove("streaming");
      startPolling(); // EventSource retries by itself; the state keeps the page current meanwhile
    };
  }

  syncClock(live.getAttribute("data-server-time"));
  setDeadline(countdown ? countdown.getAttribute("data-ends") : null);
  connect();
  window.setInterval(tick, 250);
})();
