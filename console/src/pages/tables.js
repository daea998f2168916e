// Tables: SHOW TABLES (rows, bytes on disk, compression ratio, retention, time range) and, for
// the table clicked, its schema (DESCRIBE) with a link that opens it in the SQL page.
import { AuthError, query, queryObjects } from '../api.js';
import { clear, fmtBytes, fmtNum, fmtTime, h } from '../util.js';

// A quoted identifier when the name needs one.
export function ident(name) {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : '"' + name.replace(/"/g, '""') + '"';
}

export default {
  title: 'Tables',
  mount(root) {
    let stopped = false;
    const status = h('p', { class: 'muted', id: 'tables-status', text: 'loading…' });
    const list = h('div', { id: 'table-list' });
    const detail = h('div', { class: 'card detail', id: 'table-detail', hidden: true });
    root.append(h('h1', { text: 'Tables' }),
      h('div', { class: 'toolbar' }, h('button', { type: 'button', text: 'Refresh', onclick: () => load() })),
      status, h('div', { class: 'stack' }, list, detail));

    function ratio(t) {
      if (t.compression_ratio !== undefined && t.compression_ratio !== null) return fmtNum(t.compression_ratio, 1) + '×';
      return '–';
    }

    async function load() {
      try {
        const tables = await queryObjects('SHOW TABLES');
        if (stopped) return;
        status.textContent = tables.length ? `${tables.length} table${tables.length === 1 ? '' : 's'}`
          : 'No tables yet: publish rows to db/append/<table> or POST /db/write/<table> (docs/ingest.md).';
        clear(list);
        if (!tables.length) return;
        list.append(h('div', { class: 'table-wrap' }, h('table', { id: 'tables-table' },
          h('thead', {}, h('tr', {}, ['table', 'rows', 'series', 'on disk', 'compression', 'retention', 'first', 'last']
            .map((c) => h('th', { text: c })))),
          h('tbody', {}, tables.map((t) => h('tr', { 'data-table': t.name, onclick: () => describe(t) },
            h('td', { class: 'mono', text: t.name }),
            h('td', { class: 'num', text: fmtNum(t.rows) }),
            h('td', { class: 'num', text: fmtNum(t.series) }),
            h('td', { class: 'num', text: fmtBytes(t.bytes_on_disk) }),
            h('td', { class: 'num', text: ratio(t) }),
            h('td', { text: t.retention === null || t.retention === undefined ? 'forever' : String(t.retention) }),
            h('td', { text: fmtTime(t.first) }),
            h('td', { text: fmtTime(t.last) })))))));
      } catch (e) {
        if (!stopped) status.textContent = e instanceof AuthError ? 'log in to see the tables' : e.message;
      }
    }

    async function describe(t) {
      for (const tr of list.querySelectorAll('tr[data-table]')) tr.classList.toggle('selected', tr.dataset.table === t.name);
      detail.hidden = false;
      detail.replaceChildren(h('h2', { class: 'mono', text: t.name }), h('p', { class: 'muted', text: 'loading…' }));
      try {
        const { rows } = await query('DESCRIBE ' + ident(t.name));
        const time = rows.find((r) => r[2] === 'time');
        const sql = `SELECT * FROM ${ident(t.name)}${time ? ` ORDER BY ${ident(time[0])} DESC` : ''} LIMIT 100`;
        detail.replaceChildren(h('h2', { class: 'mono', text: t.name }),
          h('div', { class: 'table-wrap' }, h('table', { class: 'schema' },
            h('thead', {}, h('tr', {}, ['column', 'type', 'kind'].map((c) => h('th', { text: c })))),
            h('tbody', {}, rows.map((r) => h('tr', {}, r.map((v) => h('td', { text: v }))))))),
          h('dl', {},
            h('dt', { text: 'rows' }), h('dd', { text: fmtNum(t.rows) }),
            h('dt', { text: 'bytes on disk' }), h('dd', { text: fmtBytes(t.bytes_on_disk) }),
            h('dt', { text: 'compression' }), h('dd', { text: ratio(t) }),
            h('dt', { text: 'time range' }), h('dd', { text: `${fmtTime(t.first)} – ${fmtTime(t.last)}` })),
          h('a', { class: 'button', href: '#/sql?q=' + encodeURIComponent(sql), text: 'Query in SQL' }));
      } catch (e) {
        detail.replaceChildren(h('h2', { text: t.name }), h('p', { class: 'error', text: e.message }));
      }
    }

    load();
    return () => {
      stopped = true;
    };
  },
};
