// Small helpers shared by the pages: building elements, formatting numbers and times, CSV.

// h('div', {class: 'x', onclick: fn}, 'text', child, [more children]): an element. Attributes
// starting with "on" become listeners; `text` sets textContent; null/false children are skipped.
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(e, c);
    else e.append(c instanceof Node ? c : String(c));
  }
}

export function clear(e) {
  while (e.firstChild) e.removeChild(e.firstChild);
  return e;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function fmtBytes(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  let i = 0;
  let v = Number(n);
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + UNITS[i];
}

export function fmtNum(n, digits = 2) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(digits);
}

export function fmtRate(n) {
  return n === null || n === undefined ? '–' : fmtNum(n) + '/s';
}

// Milliseconds since the epoch as "2024-05-01 12:00:00.123" in the browser's time zone.
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  const p = (x, n = 2) => String(x).padStart(n, '0');
  const frac = d.getMilliseconds() ? '.' + p(d.getMilliseconds(), 3) : '';
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
         `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${frac}`;
}

export function fmtSeconds(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  if (s >= 1) return s.toFixed(2) + ' s';
  if (s >= 1e-3) return (s * 1e3).toFixed(2) + ' ms';
  return (s * 1e6).toFixed(0) + ' µs';
}

// One CSV field as RFC 4180 wants it: quoted when it holds a comma, a quote or a line break.
function csvField(v) {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// columns: names; rows: arrays; format(value, columnIndex): how a cell is written.
export function toCSV(columns, rows, format = (v) => v) {
  const lines = [columns.map(csvField).join(',')];
  for (const r of rows) lines.push(r.map((v, i) => csvField(format(v, i))).join(','));
  return lines.join('\r\n') + '\r\n';
}

export function download(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// A table of `columns` and `rows`; cell(value, columnIndex, row) gives a cell's content.
export function dataTable(columns, rows, cell = (v) => (v === null ? '∅' : v), attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { text: c })))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((v, i) => {
        const c = cell(v, i, r);
        return h('td', { class: typeof c === 'number' ? 'num' : null }, c instanceof Node ? c : String(c));
      }))))));
}

// Numeric column types of /db/query answers.
export const NUMERIC_TYPES = new Set(['int8', 'int16', 'int32', 'int64', 'float', 'double', 'float32', 'float64',
  'uint8', 'uint16', 'uint32', 'uint64', 'numeric']);
export const TIME_TYPES = new Set(['datetime', 'timestamp', 'timestamptz', 'date']);
