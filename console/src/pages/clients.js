// Clients: the connected clients (SELECT * FROM mqtt_clients), filtered by text and protocol,
// or every session the broker keeps (mqtt_sessions, offline persistent ones too); a client's
// details with its subscriptions (mqtt_subscriptions); and a button that disconnects it
// (POST /api/clients/disconnect?client_id=...). Refreshed every 5 seconds.
import { AuthError, call, queryObjects } from '../api.js';
import { clear, fmtTime, h } from '../util.js';

const REFRESH_MS = 5000;
const LABELS = { expiry_interval: 'session expiry (s)', inflight: 'in flight', queued: 'queued messages',
  username: 'user', disconnected_at: 'disconnected at' };

export default {
  title: 'Clients',
  mount(root) {
    let rows = [];
    let selectedId = null;
    let stopped = false;
    let timer = null;

    const text = h('input', { type: 'search', id: 'client-filter', placeholder: 'filter: client id, user, address',
      oninput: () => drawList() });
    const protocol = h('select', { id: 'client-protocol', onchange: () => drawList() },
      h('option', { value: '', text: 'any protocol' }));
    const scope = h('select', { id: 'client-scope', onchange: () => refresh() },
      h('option', { value: 'connected', text: 'connected clients' }),
      h('option', { value: 'sessions', text: 'all sessions' }));
    const status = h('p', { class: 'muted', id: 'clients-status' });
    const list = h('div', { id: 'client-list' });
    const detail = h('div', { class: 'card detail', id: 'client-detail', hidden: true });
    root.append(h('h1', { text: 'Clients' }),
      h('div', { class: 'toolbar' }, text, protocol, scope,
        h('button', { type: 'button', id: 'clients-refresh', text: 'Refresh', onclick: () => refresh() })),
      status, h('div', { class: 'stack' }, list, detail));

    function visible() {
      const q = text.value.trim().toLowerCase();
      return rows.filter((r) => (!protocol.value || r.protocol === protocol.value) &&
        (!q || [r.client_id, r.username, r.address].some((v) => v && String(v).toLowerCase().includes(q))));
    }

    function drawList() {
      const shown = visible();
      const sessions = scope.value === 'sessions';
      const cols = sessions
        ? ['client id', 'connected', 'protocol', 'subscriptions', 'queued', 'in flight', 'expiry', 'disconnected at']
        : ['client id', 'user', 'address', 'protocol', 'subscriptions', 'queued', 'in flight', ''];
      const body = shown.map((r) => {
        const tr = h('tr', { 'data-client': r.client_id, class: r.client_id === selectedId ? 'selected' : null,
          onclick: () => select(r.client_id) },
        h('td', { class: 'mono', text: r.client_id }),
        sessions ? [h('td', { text: r.connected ? 'yes' : 'no' }), h('td', { text: r.protocol })]
          : [h('td', { text: r.username || '' }), h('td', { class: 'mono', text: r.address || '' }),
             h('td', { text: r.protocol })],
        h('td', { class: 'num', text: r.subscriptions }),
        h('td', { class: 'num', text: r.queued }),
        h('td', { class: 'num', text: r.inflight }),
        sessions ? [h('td', { class: 'num', text: r.expiry_interval }), h('td', { text: r.disconnected_at ? fmtTime(r.disconnected_at) : '' })]
          : h('td', {}, disconnectButton(r.client_id)));
        return tr;
      });
      clear(list).append(h('div', { class: 'table-wrap' }, h('table', { id: 'client-table' },
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', { text: c })))), h('tbody', {}, body))));
      status.textContent = `${shown.length} of ${rows.length} ${sessions ? 'sessions' : 'connected clients'}`;
    }

    // A button that asks once more before it disconnects (no dialog: it changes its label).
    function disconnectButton(id) {
      let armed = null;
      const b = h('button', { type: 'button', class: 'danger small', 'data-disconnect': id, text: 'Disconnect',
        onclick: async (ev) => {
          ev.stopPropagation();
          if (!armed) {
            b.textContent = 'Really disconnect?';
            armed = setTimeout(() => { armed = null; b.textContent = 'Disconnect'; }, 4000);
            return;
          }
          clearTimeout(armed);
          b.disabled = true;
          b.textContent = 'Disconnecting…';
          try {
            await call('/api/clients/disconnect?client_id=' + encodeURIComponent(id), { method: 'POST' });
            status.textContent = `disconnected ${id}`;
          } catch (e) {
            status.textContent = `could not disconnect ${id}: ${e.message}`;
          }
          refresh();
        } });
      return b;
    }

    async function select(id) {
      selectedId = id;
      for (const tr of list.querySelectorAll('tr[data-client]')) tr.classList.toggle('selected', tr.dataset.client === id);
      const r = rows.find((x) => x.client_id === id);
      if (!r) return;
      detail.hidden = false;
      // Redrawn every refresh: the subscriptions shown stay until the new ones are there.
      const shown = detail.querySelector('.subs-box');
      const subs = shown && shown.dataset.client === id ? shown
        : h('div', { class: 'subs-box', 'data-client': id }, h('p', { class: 'muted', text: 'loading subscriptions…' }));
      detail.replaceChildren(h('h2', { class: 'mono', text: id }),
        h('dl', {}, Object.entries(r).filter(([k]) => k !== 'client_id').map(([k, v]) => [
          h('dt', { text: LABELS[k] || k.replace(/_/g, ' ') }),
          h('dd', { text: v === null ? '–' : k.endsWith('_at') ? fmtTime(v) : String(v) })])),
        h('h3', { text: 'Subscriptions' }), subs,
        scope.value === 'connected' ? disconnectButton(id) : null);
      try {
        const s = await queryObjects('SELECT * FROM mqtt_subscriptions WHERE client_id = $1 ORDER BY filter', [id]);
        if (selectedId !== id) return;
        subs.replaceChildren(s.length === 0 ? h('p', { class: 'muted', text: 'none' })
          : h('div', { class: 'table-wrap' }, h('table', { class: 'subs' },
            h('thead', {}, h('tr', {}, ['filter', 'QoS', 'share group', 'no local', 'retain as published', 'retain handling']
              .map((c) => h('th', { text: c })))),
            h('tbody', {}, s.map((x) => h('tr', {}, h('td', { class: 'mono', text: x.filter }), h('td', { text: x.qos }),
              h('td', { text: x.share_group || '' }), h('td', { text: x.no_local ? 'yes' : '' }),
              h('td', { text: x.retain_as_published ? 'yes' : '' }), h('td', { text: x.retain_handling })))))));
      } catch (e) {
        subs.replaceChildren(h('p', { class: 'error', text: e.message }));
      }
    }

    async function refresh() {
      clearTimeout(timer);
      try {
        const sessions = scope.value === 'sessions';
        rows = await queryObjects(sessions ? 'SELECT * FROM mqtt_sessions ORDER BY client_id'
          : 'SELECT * FROM mqtt_clients ORDER BY client_id');
        if (stopped) return;
        const protocols = [...new Set(rows.map((r) => r.protocol).filter(Boolean))].sort();
        const current = protocol.value;
        protocol.replaceChildren(h('option', { value: '', text: 'any protocol' }),
          ...protocols.map((p) => h('option', { value: p, text: p })));
        protocol.value = protocols.includes(current) ? current : '';
        drawList();
        if (selectedId && rows.some((r) => r.client_id === selectedId)) select(selectedId);
        else if (selectedId) {
          detail.hidden = true;
          selectedId = null;
        }
      } catch (e) {
        if (stopped) return;
        status.textContent = e instanceof AuthError ? 'log in to see the clients' : e.message;
        if (e instanceof AuthError) return;
      }
      if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
    }

    refresh();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  },
};
