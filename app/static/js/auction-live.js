// The live panel of a listing: polls the listing's JSON state (the server decides everything; this only shows
// it) and ticks the countdown between polls from the server's own "seconds_left". Words come from the page.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var url = live.getAttribute("data-state");
  var deadline = null;

  function money(text) {
    if (text === null || text === undefined) { return "—"; }
    var parts = String(text).split(".");
    return parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + (parts[1] || "00");
  }

  function set(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function tick() {
    if (deadline === null) { return; }
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    var m = Math.floor(left / 60), s = left % 60;
    set("countdown", left > 0 ? m + ":" + (s < 10 ? "0" : "") + s + " " + live.getAttribute("data-label-left")
                              : live.getAttribute("data-label-over"));
  }

  function apply(state) {
    set("listing-status", state.status_label);
    set("current-price", money(state.current_price));
    set("next-minimum", money(state.next_minimum));
    set("server-time", state.server_time_beijing);
    if (state.me) { set("my-rank", state.me.rank === null ? "—" : String(state.me.rank)); }
    deadline = state.seconds_left === null ? null : Date.now() + state.seconds_left * 1000;
    tick();
    if (state.ended_at) { window.location.reload(); }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (state) { if (state) { apply(state); } })
      .catch(function () { /* the next poll tries again */ });
  }

  poll();
  window.setInterval(poll, 2000);
  window.setInterval(tick, 250);
})();
