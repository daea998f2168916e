// Overview: the server's figures over the last hour, as charts that keep moving.
//
// GET /api/overview gives samples taken every interval_ms (counters are cumulative since the
// server started); /api/overview?since=T gives those after T. Rates are differences of
// consecutive samples over their time apart; the WAL fsync latency is the fsync time added
// between two samples over the fsyncs added. A counter that went down (the server restarted)
// gives no point.
import { AuthError, getJSON } from '../api.js';
import { timeChart } from '../chart.js';
import { clear, fmtBytes, fmtNum, fmtRate, fmtSeconds, h } from '../util.js';

const HOUR_MS = 3600 * 1000;

// a: the sample before b, or null for the first one (which has no rate).
function rate(a, b, key) {
  if (!a) return null;
  const dt = (b.time_ms - a.time_ms) / 1000;
  const dv = b[key] - a[key];
  if (!(dt > 0) || !(dv >= 0) || a[key] === undefined || b[key] === undefined) return null;
  return dv / dt;
}

function fsyncLatency(a, b) {
  if (!a) return null;
  const n = b.wal_fsyncs - a.wal_fsyncs;
  const s = b.wal_fsync_seconds - a.wal_fsync_seconds;
  if (!(n > 0) || !(s >= 0)) return null;
  return s / n;
}

function lastValue(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

const CHARTS = [
  { id: 'clients', title: 'Clients connected', series: [{ label: 'clients', y: (a, b) => b.clients }],
    fmt: (v) => fmtNum(v, 0), integers: true },
  { id: 'messages', title: 'Messages per second',
    series: [{ label: 'in', y: (a, b) => rate(a, b, 'messages_in') },
             { label: 'out', y: (a, b) => rate(a, b, 'messages_out') }],
    fmt: (v) => fmtNum(v) },
  { id: 'bytes', title: 'Bytes per second',
    series: [{ label: 'in', y: (a, b) => rate(a, b, 'bytes_in') },
             { label: 'out', y: (a, b) => rate(a, b, 'bytes_out') }],
    fmt: (v) => fmtBytes(v) },
  { id: 'dropped', title: 'Messages dropped per second',
    series: [{ label: 'dropped', y: (a, b) => rate(a, b, 'dropped') }], fmt: (v) => fmtNum(v) },
  { id: 'storage', title: 'Storage size', series: [{ label: 'bytes', y: (a, b) => b.storage_bytes }],
    fmt: (v) => fmtBytes(v) },
  { id: 'fsync', title: 'WAL fsync latency (mean)', series: [{ label: 'fsync', y: fsyncLatency }],
    fmt: (v) => fmtSeconds(v) },
];

export default {
  title: 'Overview',
  mount(root) {
    let samples = [];
    let interval = 5000;
    let timer = null;
    let ticker = null;
    let stopped = false;
    const charts = new Map();

    const status = h('p', { class: 'muted', id: 'overview-status', text: 'loading…' });
    const stats = h('div', { class: 'stats' });
    const grid = h('div', { class: 'charts' });
    root.append(h('h1', { text: 'Overview' }), stats, status, grid);

    function series() {
      const xs = [];
      const ys = CHARTS.map((c) => c.series.map(() => []));
      for (let i = 0; i < samples.length; i++) {
        const a = i > 0 ? samples[i - 1] : null;
        const b = samples[i];
        xs.push(b.time_ms / 1000);
        CHARTS.forEach((c, ci) => c.series.forEach((s, si) => ys[ci][si].push(s.y(a, b))));
      }
      return { xs, ys };
    }

    function stat(label, value, id) {
      return h('div', { class: 'stat', 'data-stat': id }, h('span', { class: 'label', text: label }),
        h('span', { class: 'value', text: value }));
    }

    function draw() {
      const { xs, ys } = series();
      const last = samples[samples.length - 1];
      clear(stats);
      if (last) {
        const prev = samples.length > 1 ? samples[samples.length - 2] : null;
        stats.append(
          stat('clients', fmtNum(last.clients), 'clients'),
          stat('messages in', fmtRate(rate(prev, last, 'messages_in')), 'messages_in'),
          stat('messages out', fmtRate(rate(prev, last, 'messages_out')), 'messages_out'),
          stat('received', fmtBytes(last.bytes_in), 'bytes_in'),
          stat('sent', fmtBytes(last.bytes_out), 'bytes_out'),
          stat('dropped', fmtNum(last.dropped), 'dropped'),
          stat('storage', fmtBytes(last.storage_bytes), 'storage'),
          // The last interval may have had no fsync: the latest mean there is.
          stat('WAL fsync', fmtSeconds(lastValue(ys[CHARTS.findIndex((c) => c.id === 'fsync')][0])),
            'fsync'));
      }
      CHARTS.forEach((c, ci) => {
        const data = [xs, ...ys[ci]];
        let chart = charts.get(c.id);
        if (!chart) {
          const box = h('div', { class: 'chart card', 'data-chart': c.id });
          grid.append(box);
          chart = timeChart(box, { title: c.title, series: c.series.map((s) => ({ label: s.label })), data,
            fmt: c.fmt, height: 180, integers: c.integers });
          charts.set(c.id, chart);
        } else {
          chart.setData(data, false);
        }
      });
      moveWindow();
    }

    // The last hour, ending now: called every second, so the charts move between samples.
    function moveWindow() {
      const now = Date.now() / 1000;
      for (const c of charts.values()) c.setRange(now - 3600, now);
    }

    async function poll() {
      if (stopped) return;
      try {
        const since = samples.length ? samples[samples.length - 1].time_ms : null;
        const answer = await getJSON('/api/overview' + (since !== null ? `?since=${since}` : ''));
        if (stopped) return;
        interval = Math.max(1000, answer.interval_ms || 5000);
        const fresh = (answer.samples || []).filter((s) => since === null || s.time_ms > since);
        samples = samples.concat(fresh);
        const cutoff = Date.now() - HOUR_MS - interval;
        while (samples.length > 2 && samples[0].time_ms < cutoff) samples.shift();
        status.textContent = samples.length < 2
          ? `collecting: rates start with the second sample (one every ${interval / 1000} s)`
          : `one sample every ${interval / 1000} s`;
        draw();
      } catch (e) {
        if (stopped) return;
        status.textContent = e instanceof AuthError ? 'log in to see the figures' : 'cannot read /api/overview: ' + e.message;
        if (e instanceof AuthError) return; // main.js remounts the page after the login
      }
      timer = setTimeout(poll, interval);
    }

    poll();
    ticker = setInterval(moveWindow, 1000);
    return () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(ticker);
      for (const c of charts.values()) c.destroy();
    };
  },
};
