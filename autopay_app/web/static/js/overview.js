// Spend chart on the overview: reads /overview/spend.json and refreshes every 15 s.
(function () {
  "use strict";
  const canvas = document.getElementById("spend-chart");
  if (!canvas || !window.Chart) { return; }
  const colours = { USDC: "#2775ca", CASH: "#ab9ff2" };
  const chart = new window.Chart(canvas, {
    type: "bar",
    data: { labels: [], datasets: [] },
    options: {
      animation: false,
      responsive: true,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "tokens" } } },
    },
  });
  async function refresh() {
    const answer = await fetch(canvas.dataset.source, { credentials: "same-origin" });
    if (!answer.ok) { return; }
    const body = await answer.json();
    chart.data.labels = body.labels;
    chart.data.datasets = Object.entries(body.series).map(([asset, values]) => ({
      label: asset, data: values, backgroundColor: colours[asset] || "#888",
    }));
    chart.update();
  }
  refresh();
  setInterval(refresh, 15000);
})();
