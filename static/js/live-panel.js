// The live panel for keyboard and screen-reader users.
//
// 1. Announce: a polite live region outside the panel (#panel-announcer)
//    says the order's state and step when they change, once per change. An
//    unchanged poll is a 204 and swaps nothing; a swap that changes only the
//    timeline says nothing.
// 2. Focus: the panel is replaced whole (hx-swap="outerHTML"), which would
//    drop the keyboard's place on the page. After a person's own action (a
//    POST from the panel) focus moves to its answer (the outcome or the
//    error, focusable with tabindex="-1"); after any other swap that took the
//    focus away it returns to the control that had it, found again in the new
//    panel, or, when that control is gone, to the order's state. A poll that
//    answers while an action is on its way cannot undo this: the intentions
//    are kept apart from the order the answers arrive in.
// A static file, not inline script: the Content-Security-Policy allows no other.
(function () {
  "use strict";
  var announced = null;
  var lastFocus = null;   // where the keyboard last was in the panel
  var wantAnswer = false; // a person's action is on its way: its answer takes the focus

  function stateText(panel) {
    var state = panel && panel.querySelector("#order-state");
    var step = panel && panel.querySelector(".panel-head .step");
    var text = state ? state.textContent.trim() : "";
    var stepText = step ? step.textContent.trim() : "";
    return stepText ? text + ": " + stepText : text;
  }

  function announce(panel, speak) {
    var region = document.getElementById("panel-announcer");
    var text = stateText(panel);
    if (!region || !text || text === announced) return;
    if (speak) region.textContent = "Order " + text;
    announced = text;
  }

  // How to find a control again in a new copy of the panel.
  function locate(el, panel) {
    if (el.id) return { css: "#" + CSS.escape(el.id) };
    var details = el.closest("details");
    if (el.tagName === "SUMMARY" && details) {
      return { details: Array.prototype.indexOf.call(panel.querySelectorAll("details"), details) };
    }
    var form = el.closest("form");
    if (form && el.name) return { css: 'form[action="' + form.getAttribute("action") + '"] [name="' + el.name + '"]' };
    if (form) return { css: 'form[action="' + form.getAttribute("action") + '"] [type="submit"]' };
    return { css: null };
  }

  function find(where, panel) {
    if (where.css) return panel.querySelector(where.css);
    if (where.details !== undefined) {
      var details = panel.querySelectorAll("details")[where.details];
      return details ? details.querySelector("summary") : null;
    }
    return null;
  }

  document.addEventListener("focusin", function (event) {
    var panel = document.getElementById("live-panel");
    lastFocus = panel && panel.contains(event.target) ? locate(event.target, panel) : null;
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    var config = event.detail.requestConfig;
    if (config && config.verb === "post" && elt && elt.closest && elt.closest("#live-panel")) wantAnswer = true;
  });

  document.addEventListener("htmx:sendError", function () { wantAnswer = false; });

  document.addEventListener("htmx:afterSettle", function () {
    var panel = document.getElementById("live-panel");
    if (!panel) return;
    announce(panel, true);
    var answer = wantAnswer && panel.querySelector("#request-outcome, #panel-error");
    if (answer) {
      wantAnswer = false;
      answer.focus();
      return;
    }
    var active = document.activeElement;
    var lost = !active || active === document.body || !active.isConnected;
    if (lost && lastFocus) {
      var again = find(lastFocus, panel) || panel.querySelector("#order-state");
      if (again) again.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    announce(document.getElementById("live-panel"), false);  // what the page shows already is not news
  });
})();
