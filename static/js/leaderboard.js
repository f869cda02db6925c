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

  if (window.htmx) {
    // Called for the whole body once loaded, then for each piece of content htmx swaps in.
    htmx.onLoad(drawCharts);
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      drawCharts(document);
    });
  }
})();
