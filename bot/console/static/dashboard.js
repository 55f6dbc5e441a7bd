// The dashboard's charts (Chart.js, vendored): drawn from the JSON the page fetches.
"use strict";
(function () {
  const root = document.getElementById("dashboard");
  if (!root) return;
  const labels = JSON.parse(root.dataset.labels);
  const percent = (v) => (v === null ? null : Math.round(v * 10000) / 100);
  const colours = ["#123a63", "#e85d04", "#2a9d8f", "#a4161a"];
  function draw(id, type, x, sets, options) {
    const canvas = document.getElementById(id);
    return new Chart(canvas, {
      type: type,
      data: { labels: x, datasets: sets.map((s, i) => Object.assign(
        { backgroundColor: colours[i % colours.length], borderColor: colours[i % colours.length],
          pointRadius: 4 }, s)) },
      options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, options || {}),
    });
  }
  const rate = { scales: { y: { min: 0, max: 100, ticks: { callback: (v) => v + "%" } } } };
  fetch(root.dataset.url, { credentials: "same-origin" })
    .then((r) => { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then((d) => {
      document.getElementById("overdue-now").textContent = String(d.total.overdue_now);
      draw("chart-volume", "bar", d.days, [{ label: labels.volume, data: d.volume }]);
      draw("chart-rates", "bar", d.departments, [
        { label: labels.sign_rate, data: d.sign_rate.map(percent) },
        { label: labels.answer_rate, data: d.answer_rate.map(percent) },
        { label: labels.satisfaction, data: d.satisfaction.map(percent) },
      ], rate);
      draw("chart-months", "line", d.months, [
        { label: labels.answer_rate, data: d.month_answer_rate.map(percent) },
        { label: labels.satisfaction, data: d.month_satisfaction.map(percent) },
      ], rate);
      draw("chart-overdue", "bar", d.departments, [{ label: labels.overdue, data: d.overdue_by_department }]);
      root.dataset.ready = "true";
    })
    .catch(() => {
      document.getElementById("overdue-now").textContent = labels.no_data;
      root.dataset.ready = "failed";
    });
})();
