// Draws the ECharts charts of a page from data the server rendered into it (no API calls here).
(function () {
  "use strict";

  function chartData(element) {
    if (element.dataset.chart) {
      return JSON.parse(element.dataset.chart);
    }
    var source = document.getElementById(element.dataset.chartSource);
    return source ? JSON.parse(source.textContent) : null;
  }

  function optionFor(kind, data, width) {
    if (kind === "gauge") {
      return {
        animation: false,
        series: [{ type: "gauge", min: 0, max: 100, detail: { formatter: "{value}%" },
                   data: [{ value: data.completion == null ? 0 : data.completion }] }],
      };
    }
    if (kind === "sankey") {
      // Provinces sending on the left, the org in the middle, provinces receiving on the right.
      // Labels sit beside their node; the margins leave room for the longest on each side, and
      // on a phone they wrap onto two lines.
      var narrow = width < 500;
      return {
        animation: false,
        tooltip: { trigger: "item" },
        series: [{ type: "sankey", left: 8, right: narrow ? "30%" : "28%", nodeWidth: narrow ? 10 : 14,
                   nodeGap: 12, data: data.nodes, links: data.links, emphasis: { focus: "adjacency" },
                   lineStyle: { color: "source", opacity: 0.3 },
                   label: { fontSize: narrow ? 11 : 12, color: "#222", overflow: "break", width: narrow ? 70 : 120 } }],
      };
    }
    if (kind === "bars") {
      var palette = ["#c0392b", "#2e6da4"];
      return {
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 40, right: 10, top: 30, bottom: 40 },
        xAxis: { type: "category", data: data.labels,
                 axisLabel: { interval: 0, rotate: data.labels.length > 3 ? 30 : 0 } },
        yAxis: { type: "value", minInterval: 1 },
        series: data.series.map(function (one, index) {
          return { type: "bar", name: one.name, data: one.values, itemStyle: { color: palette[index % 2] } };
        }),
      };
    }
    var labels = data.labels || data.statuses || [];
    var values = data.values || data.counts || [];
    return {
      // Drawn at once: on a slow phone (and in a screenshot) a growing bar reads as zero.
      animation: false,
      tooltip: {},
      grid: { left: 40, right: 10, top: 20, bottom: 40 },
      xAxis: { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 4 ? 30 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", data: values, itemStyle: { color: "#c0392b" } }],
    };
  }

  function draw() {
    if (typeof window.echarts === "undefined") {
      return;
    }
    document.querySelectorAll(".chart").forEach(function (element) {
      var data = chartData(element);
      if (!data) {
        return;
      }
      var kind = element.dataset.kind || data.kind || "bar";
      var chart = window.echarts.init(element);
      chart.setOption(optionFor(kind, data, element.clientWidth));
      element.dataset.drawn = "true";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
