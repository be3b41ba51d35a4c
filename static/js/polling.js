// Polls pause in hidden tabs, and a panel pauses while someone is using it
// (a reason form open, an action on its way). htmx could test this in an
// hx-trigger filter, but that is evaluated JavaScript, which the site's
// Content-Security-Policy forbids; here the poll's request is cancelled instead.
//   data-poll                       on an element polled with hx-trigger="every …"
//   data-poll-paused-by="selector"  no poll while the element contains a match
//   data-live-stream="open"         on an ancestor: an event stream brings the
//                                   changes (live-stream.js), so no poll, unless
//                                   the element is marked data-behind (a push was
//                                   held back while it was paused)
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var el = event.detail.elt;
    if (!el || !el.hasAttribute || !el.hasAttribute("data-poll")) return;
    var pausedBy = el.getAttribute("data-poll-paused-by");
    if (document.visibilityState !== "visible" || (pausedBy && el.querySelector(pausedBy))) {
      event.preventDefault();
      return;
    }
    if (el.closest("[data-live-stream='open']") && !el.hasAttribute("data-behind")) {
      event.preventDefault();
    }
  });
})();
