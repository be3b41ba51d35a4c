// The manager inbox: live countdowns to each order's expiry, and select-all
// for bulk decisions. Plain JS, no dependencies.
(function () {
  "use strict";

  function format(ms) {
    if (ms <= 0) return "overdue";
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600),
        m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d > 0) return d + " d " + h + " h";
    if (h > 0) return h + " h " + m + " min";
    return m + " min " + (sec < 10 ? "0" : "") + sec + " s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = Date.parse(el.getAttribute("datetime")) - now;
      el.textContent = format(left);
      el.classList.toggle("overdue", left <= 0);
      el.classList.toggle("due-soon", left > 0 && left < 4 * 3600 * 1000);
    });
  }

  function selection() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var all = form.querySelector("[data-select-all]");
    var boxes = function () { return form.querySelectorAll('input[name="orders"]'); };
    var count = form.querySelector("[data-selected-count]");
    function update() {
      var n = 0;
      boxes().forEach(function (b) { if (b.checked) n++; });
      if (count) count.textContent = n;
      if (all) all.checked = n > 0 && n === boxes().length;
    }
    if (all) all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
      update();
    });
    form.addEventListener("change", update);
    update();
  }

  tick();
  setInterval(tick, 1000);
  selection();
})();
