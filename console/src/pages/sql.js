// SQL: an editor (Ctrl+Enter or Cmd+Enter runs), a history of the last statements (kept in
// localStorage), the result as a table, as a time-series chart when it has a time column and
// a numeric one, and as a CSV download.
//
// The chart: x is the first time column; each numeric column is a line. When the result also
// has one text column with a few distinct values (a tag, as in SELECT name, time, value), each
// value gets lines of its own, so that sensors are not drawn as one zigzag.
import { AuthError, query } from '../api.js';
import { timeChart } from '../chart.js';
import { clear, dataTable, download, fmtNum, fmtTime, h, NUMERIC_TYPES, TIME_TYPES, toCSV } from '../util.js';

const HISTORY_KEY = 'mqbase.sql.history';
const HISTORY_MAX = 50;
const SHOWN_ROWS = 1000;
const MAX_GROUPS = 12;

function loadHistory() {
  try {
    const v = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function remember(sql) {
  const list = [sql, ...loadHistory().filter((x) => x !== sql)].slice(0, HISTORY_MAX);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list));
}

// uPlot's aligned data for a result, or null when it has nothing to draw.
export function chartData({ columns, types, rows }) {
  const t = types.findIndex((x) => TIME_TYPES.has(x));
  if (t < 0 || rows.length === 0) return null;
  const values = types.map((x, i) => (i !== t && NUMERIC_TYPES.has(x) ? i : -1)).filter((i) => i >= 0);
  if (values.length === 0) return null;
  const texts = types.map((x, i) => (x === 'string' ? i : -1)).filter((i) => i >= 0);
  let group = -1;
  if (texts.length === 1) {
    const distinct = new Set(rows.map((r) => r[texts[0]]));
    if (distinct.size > 1 && distinct.size <= MAX_GROUPS) group = texts[0];
  }
  const sorted = rows.filter((r) => r[t] !== null).sort((a, b) => a[t] - b[t]);
  const xs = [...new Set(sorted.map((r) => r[t]))];
  const at = new Map(xs.map((x, i) => [x, i]));
  const series = [];
  const index = new Map(); // "group\0column" -> series number
  for (const r of sorted) {
    for (const v of values) {
      const key = group >= 0 ? `${r[group]}\0${v}` : `\0${v}`;
      let s = index.get(key);
      if (s === undefined) {
        s = series.length;
        index.set(key, s);
        const label = group >= 0 ? (values.length > 1 ? `${r[group]} ${columns[v]}` : String(r[group])) : columns[v];
        series.push({ label, ys: new Array(xs.length).fill(null) });
      }
      const y = r[v];
      series[s].ys[at.get(r[t])] = y === null ? null : Number(y);
    }
  }
  // A tag's lines in the order of its values, not of which came first among equal times.
  if (group >= 0) series.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return { timeColumn: columns[t], series, data: [xs.map((x) => x / 1000), ...series.map((s) => s.ys)] };
}

export default {
  title: 'SQL',
  mount(root, params) {
    let chart = null;
    let last = null;
    const editor = h('textarea', { id: 'sql-editor', rows: 6, spellcheck: 'false', autocapitalize: 'off',
      placeholder: 'SELECT * FROM mqtt_clients', 'aria-label': 'SQL' });
    editor.value = params.get('q') || loadHistory()[0] || 'SHOW TABLES';
    const runButton = h('button', { type: 'button', id: 'sql-run', text: 'Run', onclick: () => run() });
    const csvButton = h('button', { type: 'button', id: 'sql-csv', text: 'Export CSV', disabled: true,
      onclick: () => exportCsv() });
    const status = h('p', { class: 'muted', id: 'sql-status' });
    const history = h('select', { id: 'sql-history', onchange: () => {
      if (history.value) editor.value = history.value;
      history.value = '';
      editor.focus();
    } });
    const chartBox = h('div', { class: 'chart card', id: 'sql-chart', hidden: true });
    const result = h('div', { id: 'sql-result' });
    editor.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        run();
      }
    });
    root.append(h('h1', { text: 'SQL' }), editor,
      h('div', { class: 'toolbar' }, runButton, h('span', { class: 'muted hint', text: 'Ctrl+Enter' }), history, csvButton),
      status, chartBox, result);

    function drawHistory() {
      const items = loadHistory();
      history.replaceChildren(h('option', { value: '', text: items.length ? `history (${items.length})` : 'history (empty)' }),
        ...items.map((q) => h('option', { value: q, text: q.replace(/\s+/g, ' ').slice(0, 80) })));
    }

    function cell(types) {
      return (v, i) => {
        if (v === null) return '∅';
        if (TIME_TYPES.has(types[i])) return fmtTime(v);
        if (typeof v === 'object') return JSON.stringify(v);
        return v;
      };
    }

    async function run() {
      const sql = editor.value.trim();
      if (!sql) return;
      remember(sql);
      drawHistory();
      runButton.disabled = true;
      status.className = 'muted';
      status.textContent = 'running…';
      try {
        const r = await query(sql);
        last = r;
        show(r);
      } catch (e) {
        last = null;
        csvButton.disabled = true;
        status.className = 'error';
        status.textContent = e instanceof AuthError ? 'log in, then run it again' : e.message;
      } finally {
        runButton.disabled = false;
      }
    }

    function show(r) {
      const n = r.rows.length;
      status.textContent = r.columns.length === 0 ? `${r.reason || 'done'} (${r.elapse})`
        : `${fmtNum(n)} row${n === 1 ? '' : 's'} in ${r.elapse}` + (n > SHOWN_ROWS ? `; the first ${SHOWN_ROWS} shown` : '');
      csvButton.disabled = r.columns.length === 0;
      if (chart) {
        chart.destroy();
        chart = null;
      }
      clear(chartBox);
      const c = chartData(r);
      chartBox.hidden = !c;
      if (c) {
        chart = timeChart(chartBox, { title: `by ${c.timeColumn}`, series: c.series.map((s) => ({ label: s.label, points: n < 200 })),
          data: c.data, height: 280, fmt: (v) => fmtNum(v) });
      }
      clear(result);
      if (r.columns.length) {
        result.append(dataTable(r.columns, r.rows.slice(0, SHOWN_ROWS), cell(r.types), { id: 'sql-table' }));
      }
    }

    function exportCsv() {
      if (!last) return;
      const text = toCSV(last.columns, last.rows, (v, i) => (v === null ? null : TIME_TYPES.has(last.types[i])
        ? new Date(v).toISOString() : v));
      download('mqbase-result.csv', text);
    }

    drawHistory();
    if (params.get('q')) run();
    return () => {
      if (chart) chart.destroy();
    };
  },
};
