// TTL countdowns: a <time data-countdown datetime="..."> the server rendered as "3 h 12 min
// left" keeps counting down in place, once a minute. Without this script the page still says
// what was true when it was rendered.
(function () {
  "use strict";
  function words(seconds) {
    var left = Math.abs(seconds);
    var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60);
    var parts = d ? [d + " d"] : [];
    if (h || d) parts.push(h + " h");
    if (!d) parts.push(m + " min");
    return seconds > 0 ? parts.join(" ") + " left" : "expired " + parts.join(" ") + " ago";
  }
  function tick() {
    document.querySelectorAll("time[data-countdown]").forEach(function (node) {
      var seconds = Math.floor((Date.parse(node.getAttribute("datetime")) - Date.now()) / 1000);
      node.textContent = words(seconds);
      node.dataset.expired = seconds > 0 ? "false" : "true";
    });
  }
  if (window.countdownTimer) return;  // htmx may run this again after a swap
  window.countdownTimer = setInterval(tick, 60000);
  document.addEventListener("htmx:afterSettle", tick);
  tick();
})();
