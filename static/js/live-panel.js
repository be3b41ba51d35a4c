// The live panel for keyboard and screen-reader users.
//
// 1. Announce: a polite live region outside the panel (#panel-announcer)
//    says the order's state and step when they change, once per change. An
//    unchanged poll is a 204 and swaps nothing; a swap that changes only the
//    timeline says nothing.
// 2. Focus: the panel is replaced whole (hx-swap="outerHTML"). After a
//    person's own action (a POST) focus moves to its answer (the outcome or
//    the error, focusable with tabindex="-1"); after a poll it returns to the
//    control that had it, found again in the new panel.
// A static file, not inline script: the Content-Security-Policy allows no other.
(function () {
  "use strict";
  var announced = null;
  var focusWas = null;
  var byPerson = false;

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

  // How to find the focused control again in a new copy of the panel.
  function locate(el, panel) {
    if (el.id) return "#" + CSS.escape(el.id);
    var form = el.closest("form");
    var details = el.closest("details");
    if (el.tagName === "SUMMARY" && details) {
      return { details: Array.prototype.indexOf.call(panel.querySelectorAll("details"), details) };
    }
    if (form && el.name) return 'form[action="' + form.getAttribute("action") + '"] [name="' + el.name + '"]';
    if (form) return 'form[action="' + form.getAttribute("action") + '"] ' + el.tagName.toLowerCase() + '[type="submit"]';
    return null;
  }

  function find(where, panel) {
    if (!where) return null;
    if (typeof where === "string") return panel.querySelector(where);
    return panel.querySelectorAll("details")[where.details] ? panel.querySelectorAll("details")[where.details].querySelector("summary") : null;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "live-panel") return;
    var active = document.activeElement;
    focusWas = active && target.contains(active) ? locate(active, target) : null;
    byPerson = event.detail.requestConfig && event.detail.requestConfig.verb === "post";
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var panel = document.getElementById("live-panel");
    if (!panel || !(event.detail.target && (event.detail.target === panel || event.detail.target.id === "live-panel"))) return;
    announce(panel, true);
    var answer = byPerson && panel.querySelector("#request-outcome, #panel-error");
    var again = answer || find(focusWas, panel);
    if (again) again.focus();
    focusWas = null;
    byPerson = false;
  });

  document.addEventListener("DOMContentLoaded", function () {
    announce(document.getElementById("live-panel"), false);  // what the page shows already is not news
  });
})();
