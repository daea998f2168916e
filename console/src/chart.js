// uPlot time-series charts that follow their container's width.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf',
  '#7f7f7f', '#bcbd22'];

const INTEGER_STEPS = [];
for (let p = 1; p <= 1e9; p *= 10) INTEGER_STEPS.push(p, 2 * p, 5 * p);

// A chart in `container`: x is time in seconds since the epoch; series: [{label, fmt}];
// data: [xs, ys1, ys2, ...] (uPlot's aligned columns). Returns {plot, setData, setRange,
// destroy}. fmt formats a y value for the axis and the legend.
// integers: ticks only at whole numbers (a count of clients has no 2.5).
export function timeChart(container, { series, data, height = 220, fmt = (v) => v, title, integers = false }) {
  const width = Math.max(200, container.clientWidth || 600);
  const opts = {
    title,
    width,
    height,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    legend: { live: true },
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 1.5,
        spanGaps: s.spanGaps !== false,
        points: { show: s.points || false },
        value: (u, v) => (v === null || v === undefined ? '–' : (s.fmt || fmt)(v)),
      })),
    ],
    axes: [
      {},
      { size: 70, values: (u, ticks) => ticks.map((v) => (s0fmt(fmt, v))), incrs: integers ? INTEGER_STEPS : undefined },
    ],
  };
  const plot = new uPlot(opts, data, container);
  const ro = new ResizeObserver(() => {
    const w = container.clientWidth;
    if (w > 0 && Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height });
  });
  ro.observe(container);
  return {
    plot,
    setData(d, resetScales = true) {
      plot.setData(d, resetScales);
    },
    // Shows [min, max] (seconds) on the time axis.
    setRange(min, max) {
      plot.setScale('x', { min, max });
    },
    destroy() {
      ro.disconnect();
      plot.destroy();
    },
  };
}

function s0fmt(fmt, v) {
  return v === null ? '' : fmt(v);
}
