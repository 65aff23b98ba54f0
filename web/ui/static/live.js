// Live updates: one EventSource per tab on the tenant's stream (/ui/stream). A job's change
// moves its progress bars and status badges in place; anything the page does not show yet
// (a new job, an event) refreshes the page's [data-live-refresh] sections through htmx. The
// browser reconnects by itself and sends Last-Event-ID, so nothing missed is lost.
(function () {
  "use strict";
  var TERMINAL = ["completed", "failed", "cancelled"];
  var source = null;
  var pending = null;

  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge s-" + status;
    span.textContent = status;
    return span;
  }

  function showJob(job) {
    var nodes = document.querySelectorAll('[data-job="' + job.id + '"]');
    var progress = job.progress || {};
    nodes.forEach(function (node) {
      if (node.dataset.field === "status") {
        node.replaceChildren(badge(job.status));
        return;
      }
      node.dataset.status = job.status;
      var bar = node.querySelector("progress");
      if (bar && progress.percentage != null) {
        bar.value = progress.percentage;
        bar.textContent = progress.percentage + "%";
      }
      var pct = node.querySelector('[data-field="percentage"]');
      if (pct && progress.percentage != null) pct.textContent = progress.percentage + "%";
      var msg = node.querySelector('[data-field="message"]');
      if (msg && progress.message != null) msg.textContent = progress.message;
    });
    var page = document.querySelector('[data-job-page="' + job.id + '"]');
    if (page && TERMINAL.indexOf(job.status) >= 0) refresh("#main");
    return nodes.length > 0;
  }

  // Several changes in a burst cost one reload.
  function refresh(selector) {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      if (!window.htmx) return;
      var target = selector || "[data-live-refresh]";
      if (!document.querySelector(target)) return;
      htmx.ajax("GET", window.location.href, { target: "#main", select: "#main", swap: "outerHTML" });
    }, 500);
  }

  function setStatus(text) {
    var node = document.getElementById("live-status");
    if (node) node.textContent = text;
  }

  function connect() {
    var url = document.body.dataset.stream;
    if (!url || source || !window.EventSource) return;
    source = new EventSource(url);
    source.addEventListener("open", function () { setStatus("Live"); document.body.dataset.live = "open"; });
    source.addEventListener("error", function () { setStatus("Reconnecting…"); document.body.dataset.live = "reconnecting"; });
    source.addEventListener("job", function (message) {
      var job = JSON.parse(message.data);
      if (!showJob(job)) refresh();
    });
    source.addEventListener("event", function () { refresh(); });
  }

  // A page left (or kept in the back-forward cache) closes its stream: browsers allow a few
  // connections per site, and a forgotten stream would hold one.
  window.addEventListener("pagehide", function () {
    if (source) { source.close(); source = null; }
  });
  window.addEventListener("pageshow", connect);
  document.addEventListener("DOMContentLoaded", connect);
})();
