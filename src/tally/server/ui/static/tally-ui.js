// Draws every plotly figure of the page from its JSON block, submits filter forms when a
// select changes, and refreshes the real-time widget. No inline script: the page's
// Content-Security-Policy allows scripts from this server only.
(function () {
  "use strict";
  var TOPOJSON = "/ui/static/topojson/";

  function drawCharts(root) {
    if (!window.Plotly) { return; }
    root.querySelectorAll("script.figure").forEach(function (block) {
      var target = document.getElementById(block.dataset.target);
      if (!target) { return; }
      var figure = JSON.parse(block.textContent);
      // Maps read their topojson from this server, never from plotly's CDN.
      var config = { responsive: true, displaylogo: false, topojsonURL: TOPOJSON };
      window.Plotly.react(target, figure.data, figure.layout, config);
    });
  }

  function autosubmit() {
    document.querySelectorAll("select.autosubmit").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  // A real-time widget reloads its own fragment every data-refresh seconds (at once, unless
  // the server drew it already: data-loaded="server").
  function realtime() {
    document.querySelectorAll("[data-refresh]").forEach(function (widget) {
      var seconds = parseInt(widget.dataset.refresh, 10) || 10;
      function reload() {
        fetch(widget.dataset.source, { credentials: "same-origin" })
          .then(function (answer) { return answer.ok ? answer.text() : null; })
          .then(function (html) {
            if (html === null) { return; }
            widget.innerHTML = html;
            widget.dataset.loaded = String(Date.now());
            drawCharts(widget);
          })
          .catch(function () { /* try again next round */ });
      }
      if (!widget.dataset.loaded) { reload(); }
      window.setInterval(reload, seconds * 1000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    autosubmit();
    realtime();
    document.body.dataset.ready = "1";
  });
})();
