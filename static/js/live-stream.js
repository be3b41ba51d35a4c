// The live panel's push channel (docs/live-panel.md): htmx's SSE extension
// (hx-sse, shipped with django-htmx) keeps an event stream open on the
// element marked data-live-stream and swaps each `panel` event into
// #live-panel. This script tells the polling fallback (polling.js) whether
// the stream is open, and keeps a push from undoing someone's typing.
//
// - Open: the element gets data-live-stream="open", and polls inside it are
//   cancelled (polling.js): the stream brings every change.
// - Error or closed (a server without streams answers 204, a proxy cuts the
//   connection, the network drops): the attribute says "closed", the page
//   polls as it always did, and the extension reconnects with a growing
//   delay (0.5 s doubling to 64 s); a browser without EventSource simply
//   keeps polling.
// - A push while the panel is paused (a reason form open, an action on its
//   way, a text field in use) is not swapped in: the panel is marked behind,
//   and its next poll, once the pause ends, fetches the current panel.
// - A final panel (one that no longer polls) closes the stream for good.
// A static file, not inline script: the Content-Security-Policy allows no other.
(function () {
  "use strict";
  var source = null;

  function holder(event) {
    var elt = event.detail && event.detail.elt;
    return elt && elt.closest ? elt.closest("[data-live-stream]") : null;
  }

  function setState(el, state) {
    if (el) el.setAttribute("data-live-stream", state);
  }

  document.addEventListener("htmx:sseOpen", function (event) {
    source = event.detail.source || source;
    setState(holder(event), "open");
  });

  document.addEventListener("htmx:sseError", function (event) {
    setState(holder(event), "closed");
  });

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var panel = document.getElementById("live-panel");
    var pausedBy = panel && panel.getAttribute("data-poll-paused-by");
    if (panel && pausedBy && panel.querySelector(pausedBy)) {
      event.preventDefault();
      panel.setAttribute("data-behind", "");
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var panel = document.getElementById("live-panel");
    var el = document.querySelector("[data-live-stream]");
    if (!panel || !el) return;
    if (!panel.hasAttribute("data-poll")) {
      // The order is final: nothing more will come.
      if (source) source.close();
      setState(el, "closed");
    }
  });
})();
