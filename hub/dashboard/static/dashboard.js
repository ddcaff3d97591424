// Mostrador dashboard: the little behaviour pages need besides htmx. No inline scripts (the content security
// policy forbids them): pages carry data in attributes and <script type="application/json"> blocks.
"use strict";

// Editing a date of the filter bar means a custom period.
function customPeriodOnDateChange(root) {
  root.querySelectorAll("form.filters").forEach(function (form) {
    const period = form.querySelector("select[name=period]");
    if (!period) return;
    form.querySelectorAll("input[data-period-date]").forEach(function (input) {
      input.addEventListener("change", function () { period.value = "custom"; });
    });
  });
}

// A <canvas data-chart="id"> is drawn by Chart.js from the JSON block <script id="id">.
function drawCharts(root) {
  if (typeof window.Chart === "undefined") return;
  root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source || canvas.dataset.drawn) return;
    const spec = JSON.parse(source.textContent);
    canvas.dataset.drawn = "1";
    new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: spec.datasets.length > 1, position: "bottom" } },
        scales: { y: { beginAtZero: true } },
      },
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  customPeriodOnDateChange(document);
  drawCharts(document);
});
document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
