// Live topic tree: every topic seen on `#` since the console connected (retained messages
// arrive first), as a tree of its levels, with the last value, the retain flag and the rate;
// and a form to publish.
//
// The tree is drawn incrementally: a node's element is made once, when its topic first shows
// up, and only the nodes that changed are redrawn (every 100 ms), so a busy broker does not
// make the page rebuild thousands of rows per message.
import { live } from '../live.js';
import { fmtRate, fmtTime, h } from '../util.js';

class Node {
  constructor(name, full, depth) {
    this.name = name;
    this.full = full;        // the topic of this level: "plant/1/temp"
    this.depth = depth;
    this.children = new Map();
    this.state = null;       // the TopicState when a message was published to exactly this topic
    this.li = null;
  }
}

export default {
  title: 'Topics',
  mount(root) {
    const tree = new Node('', '', -1);
    const dirty = new Set();
    let selected = null;
    let filter = '';

    const list = h('ul', { class: 'tree', id: 'topic-tree' });
    tree.ul = list;
    const empty = h('p', { class: 'muted', id: 'topics-empty', text: 'No messages yet: publish one below, or from any client.' });
    const countEl = h('span', { class: 'muted', id: 'topic-count' });
    const filterInput = h('input', { type: 'search', placeholder: 'filter topics', id: 'topic-filter',
      oninput: () => { filter = filterInput.value.trim(); applyFilter(tree); } });
    const sys = h('input', { type: 'checkbox', id: 'topic-sys', checked: live.withSys,
      onchange: () => {
        live.setSys(sys.checked);
        const n = tree.children.get('$SYS');
        if (!sys.checked && n) {
          n.li.remove();
          tree.children.delete('$SYS');
          if (selected && selected.full.startsWith('$SYS')) selected = null;
          dirty.clear();
        }
      } });
    const detail = h('div', { class: 'card detail', id: 'topic-detail', hidden: true });

    // The publish form.
    const pubTopic = h('input', { id: 'pub-topic', placeholder: 'topic, e.g. plant/1/temp', required: true });
    const pubPayload = h('textarea', { id: 'pub-payload', rows: 3, placeholder: 'payload' });
    const pubQos = h('select', { id: 'pub-qos' }, [0, 1, 2].map((q) => h('option', { value: q, text: `QoS ${q}` })));
    const pubRetain = h('input', { type: 'checkbox', id: 'pub-retain' });
    const pubResult = h('span', { class: 'muted', id: 'pub-result' });
    const form = h('form', { class: 'card publish', id: 'publish-form', onsubmit: async (ev) => {
      ev.preventDefault();
      pubResult.className = 'muted';
      pubResult.textContent = 'publishing…';
      try {
        await live.publish(pubTopic.value, pubPayload.value, Number(pubQos.value), pubRetain.checked);
        pubResult.textContent = `published at ${fmtTime(Date.now())}`;
      } catch (e) {
        pubResult.className = 'error';
        pubResult.textContent = e.message;
      }
    } },
    h('h2', { text: 'Publish' }),
    h('div', { class: 'row' }, pubTopic, pubQos, h('label', { class: 'check' }, pubRetain, 'retain')),
    pubPayload,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'pub-submit', text: 'Publish' }), pubResult));

    root.append(
      h('h1', {}, 'Topics ', countEl),
      h('div', { class: 'toolbar' }, filterInput, h('label', { class: 'check' }, sys, 'include $SYS')),
      h('div', { class: 'split' }, h('div', { class: 'card tree-box' }, empty, list), h('div', {}, detail, form)));

    function nodeFor(topic) {
      let n = tree;
      const levels = topic.split('/');
      levels.forEach((name, i) => {
        let c = n.children.get(name);
        if (!c) {
          c = new Node(name, levels.slice(0, i + 1).join('/'), i);
          n.children.set(name, c);
          insert(n, c);
        }
        n = c;
      });
      return n;
    }

    // Makes c's element and puts it among its parent's children in order.
    function insert(parent, c) {
      c.twisty = h('button', { type: 'button', class: 'twisty', 'aria-label': 'expand', onclick: (ev) => {
        ev.stopPropagation();
        c.li.classList.toggle('collapsed');
      } });
      c.nameEl = h('span', { class: 'name', text: c.name === '' ? '(empty)' : c.name });
      c.valueEl = h('span', { class: 'value' });
      c.flagsEl = h('span', { class: 'flags' });
      c.rateEl = h('span', { class: 'rate' });
      c.ul = h('ul');
      c.li = h('li', { 'data-topic': c.full, class: 'leaf' },
        h('div', { class: 'node', onclick: () => select(c) }, c.twisty, c.nameEl, c.valueEl, c.flagsEl, c.rateEl),
        c.ul);
      if (parent.li) parent.li.classList.remove('leaf');
      const siblings = [...parent.children.keys()].sort();
      const next = siblings[siblings.indexOf(c.name) + 1];
      const before = next !== undefined ? parent.children.get(next).li : null;
      parent.ul.insertBefore(c.li, before && before.parentNode === parent.ul ? before : null);
      if (filter) applyFilter(tree);
    }

    function draw(n, now) {
      const s = n.state;
      if (!s) return;
      n.valueEl.textContent = s.payload;
      n.valueEl.title = s.payload;
      n.li.classList.toggle('retained', !!s.retain);
      n.flagsEl.textContent = s.retain ? 'retained' : '';
      n.rateEl.textContent = fmtRate(s.rate(now));
      if (n === selected) showDetail(n);
    }

    function select(n) {
      if (selected && selected.li) selected.li.classList.remove('selected');
      selected = n;
      n.li.classList.add('selected');
      pubTopic.value = n.full;
      showDetail(n);
    }

    function showDetail(n) {
      const s = n.state;
      detail.hidden = false;
      detail.replaceChildren(
        h('h2', { text: n.full }),
        s ? h('dl', {},
          h('dt', { text: 'last value' }), h('dd', {}, h('pre', { text: s.payload })),
          h('dt', { text: 'received' }), h('dd', { text: fmtTime(s.time) }),
          h('dt', { text: 'retained' }), h('dd', { text: s.retain ? 'yes' : 'no' }),
          h('dt', { text: 'QoS' }), h('dd', { text: `${s.qos} (as delivered)` }),
          h('dt', { text: 'size' }), h('dd', { text: `${s.bytes} bytes` }),
          h('dt', { text: 'messages' }), h('dd', { text: `${s.count} since the console connected` }),
          h('dt', { text: 'rate' }), h('dd', { text: fmtRate(s.rate(Date.now())) }),
          s.contentType ? [h('dt', { text: 'content type' }), h('dd', { text: s.contentType })] : null)
          : h('p', { class: 'muted', text: 'No message was published to this level itself.' }));
    }

    // Hides the topics that neither match the filter nor have a descendant that does.
    function applyFilter(n) {
      let any = false;
      for (const c of n.children.values()) {
        const childMatch = applyFilter(c);
        const match = !filter || c.full.toLowerCase().includes(filter.toLowerCase()) || childMatch;
        c.li.hidden = !match;
        any = any || match;
      }
      return any;
    }

    function onTopic(s) {
      const n = nodeFor(s.topic);
      n.state = s;
      dirty.add(n);
    }

    for (const s of live.topics.values()) onTopic(s);
    const off = live.onTopic(onTopic);
    const flush = () => {
      const now = Date.now();
      for (const n of dirty) draw(n, now);
      dirty.clear();
      empty.hidden = live.topics.size > 0;
      countEl.textContent = live.topics.size ? `(${live.topics.size})` : '';
    };
    flush();
    const flusher = setInterval(flush, 100);
    // Rates fall when messages stop: redraw every topic's rate once a second.
    const rates = setInterval(() => {
      const now = Date.now();
      const walk = (n) => {
        for (const c of n.children.values()) {
          if (c.state) c.rateEl.textContent = fmtRate(c.state.rate(now));
          walk(c);
        }
      };
      walk(tree);
      if (selected) showDetail(selected);
    }, 1000);
    live.start();

    return () => {
      off();
      clearInterval(flusher);
      clearInterval(rates);
    };
  },
};
