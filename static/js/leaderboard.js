// Draws the leaderboard's Plotly figures. Each `.js-chart` names, in data-figure, the id of a
// <script type="application/json"> holding a figure ({data, layout}) built server-side from stored snapshots.
// Runs on page load and on every htmx swap (tabs, filters, sorting replace the board).
(function () {
  "use strict";

  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function drawCharts(root) {
    if (typeof Plotly === "undefined") {
      return;
    }
    root.querySelectorAll(".js-chart").forEach(function (element) {
      var source = document.getElementById(element.dataset.figure);
      if (!source) {
        return;
      }
      var figure = JSON.parse(source.textContent);
      Plotly.react(element, figure.data, figure.layout, CONFIG);
    });
  }

  // A bad filter value (say a seventh contender ticked in the profile picker) answers 400 with the board's
  // place holding the message: show it instead of ignoring the click, as htmx does with 4xx by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 400 && status < 500 && event.detail.target && event.detail.target.id === "board") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  if (window.htmx) {
    // Called for the whole body once loaded, then for each piece of content htmx swaps in.
    htmx.onLoad(drawCharts);
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      drawCharts(document);
    });
  }
})();
