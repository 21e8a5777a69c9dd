// The /debug page: one HTML document and one script, served by the node itself (no CDN, no
// network access). The script opens /debug/events (Server-Sent Events) and draws the actor tree,
// the selected actor's statechart with its current state highlighted, and the recent events.
// Everything shown is put in with textContent: names and event types never become markup.

const STYLE = `
:root { color-scheme: dark; --bg: #11151c; --panel: #181e27; --line: #2a3340; --text: #d8dee9; --dim: #8a94a6; --accent: #5ec4ff; --active: #3ddc97; --warn: #ffb454; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--bg); color: var(--text); }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 16px; border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { font-size: 15px; margin: 0; color: var(--accent); }
header .dim { color: var(--dim); }
#status.live { color: var(--active); } #status.down { color: var(--warn); }
main { display: grid; grid-template-columns: minmax(320px, 38%) 1fr; gap: 0; height: calc(100vh - 42px - 220px); }
section { overflow: auto; padding: 10px 14px; border-right: 1px solid var(--line); }
h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .08em; color: var(--dim); margin: 4px 0 8px; }
ul.tree, ul.tree ul { list-style: none; margin: 0; padding-left: 14px; border-left: 1px dotted var(--line); }
ul.tree { padding-left: 0; border-left: 0; }
.node { display: flex; gap: 8px; align-items: baseline; padding: 1px 6px; border-radius: 4px; cursor: pointer; white-space: nowrap; }
.node:hover { background: #222b37; }
.node.selected { background: #263449; outline: 1px solid var(--accent); }
.node.fresh { animation: fresh 1.5s ease-out; }
@keyframes fresh { from { background: #2f5a3e; } to { background: transparent; } }
.kind { font-size: 10px; padding: 0 4px; border-radius: 3px; border: 1px solid var(--line); color: var(--dim); }
.kind.supervisor { color: var(--warn); border-color: #5a4a2a; } .kind.machine { color: var(--accent); border-color: #234a61; }
.sys { color: var(--dim); } .val { color: var(--active); }
.more { color: var(--dim); padding-left: 6px; }
#chart .state { border: 1px solid var(--line); border-radius: 6px; padding: 4px 6px 6px; margin: 4px; background: #141a22; min-width: 110px; }
#chart .state.parallel > .children > .state { border-style: dashed; }
#chart .state.active { border-color: var(--active); box-shadow: 0 0 0 1px var(--active) inset; }
#chart .state.active > .title { color: var(--active); font-weight: bold; }
#chart .state.final > .title::after { content: " ◉"; }
#chart .title { display: flex; gap: 6px; align-items: baseline; }
#chart .initial::before { content: "→ "; color: var(--dim); }
#chart .children { display: flex; flex-wrap: wrap; align-items: flex-start; }
#chart .edges { margin: 2px 0 0 4px; padding: 0; list-style: none; color: var(--dim); font-size: 11px; }
#chart .edges li::before { content: "⟶ "; }
#chart .invoke { color: #c39bff; font-size: 11px; margin-left: 4px; }
#details { color: var(--dim); margin-bottom: 8px; }
footer { height: 220px; overflow: auto; border-top: 1px solid var(--line); padding: 6px 14px; background: var(--panel); }
table { border-collapse: collapse; width: 100%; }
td { padding: 1px 8px 1px 0; white-space: nowrap; } td.t { color: var(--dim); } td.a { color: var(--accent); }
form.login { max-width: 460px; margin: 12vh auto; padding: 24px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
form.login input { width: 100%; padding: 8px; margin: 10px 0; background: var(--bg); color: var(--text); border: 1px solid var(--line); border-radius: 4px; font: inherit; }
form.login button { padding: 6px 14px; background: var(--accent); color: #000; border: 0; border-radius: 4px; font: inherit; cursor: pointer; }
`;

export const DEBUG_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alknet · actors</title><meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<header><h1>alknet</h1><span class="dim">node</span><span id="node">…</span><span id="status" class="down">connecting…</span><span class="dim" id="counts"></span></header>
<main>
  <section><h2>Actors</h2><ul class="tree" id="tree"></ul></section>
  <section><h2>Statechart</h2><div id="details">Select an actor.</div><div id="chart"></div><h2>Its recent events</h2><table id="actor-events"></table></section>
</main>
<footer><h2>Recent events</h2><table id="events"></table></footer>
<script src="/debug/app.js"></script>
</body></html>
`;

export const DEBUG_LOGIN_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alknet · sign in</title><style>${STYLE}</style></head>
<body><form class="login" method="post" action="/debug/login">
<h1>alknet /debug</h1>
<p class="dim">This page shows the node's actors. It needs a token with scope <b>admin</b> (<code>alknet token create --scopes admin</code>) or a client certificate of a peer that has it.</p>
<input name="token" type="password" placeholder="alk_…" autocomplete="off" required>
<button type="submit">Open</button>
</form></body></html>
`;

// Plain ES2017, no template literals (this file holds it in one): it runs in any current browser.
export const DEBUG_SCRIPT = String.raw`
(function () {
  'use strict';
  var actors = new Map();      // sid -> actor info (+ value)
  var charts = {};             // chart key -> ChartNode
  var recent = [];             // event changes, newest last
  var selected = null;
  var fresh = new Set();
  var dirtyTree = false, dirtyEvents = false, dirtyChart = false;
  var MAX_EVENTS = 150, MAX_CHILDREN = 200;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function valueText(v) {
    if (v === undefined || v === null) return '';
    if (typeof v === 'string') return v;
    var parts = [];
    Object.keys(v).forEach(function (k) {
      var inner = valueText(v[k]);
      parts.push(inner ? k + '.' + inner : k);
    });
    return parts.length === 1 ? parts[0] : '{' + parts.join(', ') + '}';
  }
  function activeIds(rootId, value) {
    var out = new Set([rootId]);
    (function walk(prefix, v) {
      if (typeof v === 'string') { out.add(prefix + '.' + v); return; }
      if (!v || typeof v !== 'object') return;
      Object.keys(v).forEach(function (k) { out.add(prefix + '.' + k); walk(prefix + '.' + k, v[k]); });
    })(rootId, value);
    return out;
  }
  function prettyEvent(e) {
    var m;
    if ((m = /^xstate\.done\.actor\.(.*)$/.exec(e))) return 'done: ' + m[1];
    if ((m = /^xstate\.error\.actor\.(.*)$/.exec(e))) return 'error: ' + m[1];
    if ((m = /^xstate\.after\.([^.]+)\./.exec(e))) return 'after ' + m[1];
    return e;
  }
  function nameOf(sid) {
    var a = actors.get(sid);
    return a ? a.name : sid;
  }
  function time(t) {
    var d = new Date(t);
    return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function apply(change) {
    if (change.kind === 'spawn' && change.actor) {
      if (change.chart && change.actor.chart) charts[change.actor.chart] = change.chart;
      actors.set(change.sid, change.actor);
      fresh.add(change.sid);
      setTimeout(function () { fresh.delete(change.sid); }, 1500);
      dirtyTree = true;
    } else if (change.kind === 'stop') {
      actors.delete(change.sid);
      if (selected === change.sid) { dirtyChart = true; }
      dirtyTree = true;
    } else if (change.kind === 'state') {
      var a = actors.get(change.sid);
      if (a) {
        a.value = change.value;
        var row = document.querySelector('.node[data-sid="' + CSS.escape(change.sid) + '"] .val');
        if (row) row.textContent = valueText(change.value);
        if (selected === change.sid) dirtyChart = true;
      }
    } else if (change.kind === 'event') {
      recent.push(change);
      if (recent.length > MAX_EVENTS * 2) recent = recent.slice(-MAX_EVENTS);
      dirtyEvents = true;
      if (selected === change.sid) dirtyChart = true;
    }
  }

  function renderTree() {
    var children = new Map();
    var roots = [];
    actors.forEach(function (a) {
      if (a.parent && actors.has(a.parent)) {
        if (!children.has(a.parent)) children.set(a.parent, []);
        children.get(a.parent).push(a);
      } else roots.push(a);
    });
    function item(a) {
      var li = el('li');
      var row = el('div', 'node' + (a.sid === selected ? ' selected' : '') + (fresh.has(a.sid) ? ' fresh' : ''));
      row.dataset.sid = a.sid;
      row.dataset.name = a.name;
      if (a.systemId) row.dataset.systemid = a.systemId;
      row.dataset.kind = a.kind;
      row.appendChild(el('span', 'kind ' + a.kind, a.kind === 'supervisor' ? 'sup' : a.kind === 'machine' ? 'fsm' : 'act'));
      row.appendChild(el('span', 'name', a.name));
      if (a.systemId && a.systemId !== a.name) row.appendChild(el('span', 'sys', a.systemId));
      row.appendChild(el('span', 'val', valueText(a.value)));
      row.addEventListener('click', function () { selected = a.sid; dirtyTree = true; dirtyChart = true; });
      li.appendChild(row);
      var kids = children.get(a.sid);
      if (kids && kids.length) {
        var ul = el('ul');
        kids.slice(0, MAX_CHILDREN).forEach(function (k) { ul.appendChild(item(k)); });
        if (kids.length > MAX_CHILDREN) ul.appendChild(el('li', 'more', '… and ' + (kids.length - MAX_CHILDREN) + ' more'));
        li.appendChild(ul);
      }
      return li;
    }
    var tree = document.getElementById('tree');
    tree.replaceChildren.apply(tree, roots.map(item));
    document.getElementById('counts').textContent = actors.size + ' actors';
  }

  function renderChartNode(node, active, initialKey) {
    var box = el('div', 'state ' + node.type + (active.has(node.id) ? ' active' : ''));
    box.dataset.stateId = node.id;
    var title = el('div', 'title' + (initialKey === node.key ? ' initial' : ''));
    title.appendChild(el('span', 'key', node.key || node.id));
    if (node.type !== 'atomic') title.appendChild(el('span', 'kind', node.type));
    node.invoke.forEach(function (src) { title.appendChild(el('span', 'invoke', 'invokes ' + src)); });
    box.appendChild(title);
    if (node.on.length) {
      var edges = el('ul', 'edges');
      node.on.slice(0, 40).forEach(function (t) {
        var target = t.targets.length ? t.targets.map(function (id) { return id.split('.').pop(); }).join(', ') : '(stays)';
        edges.appendChild(el('li', '', prettyEvent(t.event) + (t.guarded ? ' [guard]' : '') + ' → ' + target));
      });
      if (node.on.length > 40) edges.appendChild(el('li', '', '… ' + (node.on.length - 40) + ' more'));
      box.appendChild(edges);
    }
    if (node.states.length) {
      var kids = el('div', 'children');
      node.states.forEach(function (s) { kids.appendChild(renderChartNode(s, active, node.initial)); });
      box.appendChild(kids);
    }
    return box;
  }

  function renderChart() {
    var chart = document.getElementById('chart');
    var details = document.getElementById('details');
    var a = selected ? actors.get(selected) : null;
    if (!a) {
      details.textContent = selected ? 'That actor stopped.' : 'Select an actor.';
      chart.replaceChildren();
      document.getElementById('actor-events').replaceChildren();
      return;
    }
    details.textContent = a.name + (a.systemId ? ' (' + a.systemId + ')' : '') + ' · ' + a.kind + ' · state ' + (valueText(a.value) || '—');
    var shape = a.chart ? charts[a.chart] : null;
    if (shape) chart.replaceChildren(renderChartNode(shape, activeIds(shape.id, a.value), null));
    else chart.replaceChildren(el('div', 'dim', 'Not a state machine (a callback, promise or other actor): no statechart.'));
    var rows = recent.filter(function (c) { return c.sid === a.sid; }).slice(-30).reverse().map(function (c) {
      var tr = el('tr');
      tr.appendChild(el('td', 't', time(c.t)));
      tr.appendChild(el('td', '', prettyEvent(c.event)));
      tr.appendChild(el('td', 't', c.source ? 'from ' + nameOf(c.source) : ''));
      return tr;
    });
    document.getElementById('actor-events').replaceChildren.apply(document.getElementById('actor-events'), rows);
  }

  function renderEvents() {
    var rows = recent.slice(-MAX_EVENTS).reverse().map(function (c) {
      var tr = el('tr');
      tr.appendChild(el('td', 't', time(c.t)));
      tr.appendChild(el('td', 'a', nameOf(c.sid)));
      tr.appendChild(el('td', '', prettyEvent(c.event)));
      tr.appendChild(el('td', 't', c.source ? 'from ' + nameOf(c.source) : ''));
      return tr;
    });
    var table = document.getElementById('events');
    table.replaceChildren.apply(table, rows);
  }

  function frame() {
    if (dirtyTree) { dirtyTree = false; renderTree(); }
    if (dirtyChart) { dirtyChart = false; renderChart(); }
    if (dirtyEvents) { dirtyEvents = false; renderEvents(); }
    requestAnimationFrame(frame);
  }

  function connect() {
    var status = document.getElementById('status');
    var source = new EventSource('/debug/events');
    source.addEventListener('snapshot', function (m) {
      var snap = JSON.parse(m.data);
      actors = new Map();
      charts = snap.charts || {};
      snap.actors.forEach(function (a) { actors.set(a.sid, a); });
      recent = snap.recent || [];
      if (selected === null) {
        var first = snap.actors.find(function (a) { return a.systemId && a.systemId.indexOf('protocol:') === 0; });
        selected = first ? first.sid : null;
      }
      dirtyTree = dirtyChart = dirtyEvents = true;
      status.textContent = 'live';
      status.className = 'live';
    });
    source.addEventListener('changes', function (m) {
      var batch = JSON.parse(m.data);
      batch.changes.forEach(apply);
    });
    source.onerror = function () {
      status.textContent = 'reconnecting…';
      status.className = 'down';
    };
  }

  fetch('/', { credentials: 'same-origin' }).then(function (r) { return r.json(); }).then(function (info) {
    document.getElementById('node').textContent = info.nodeId;
  }).catch(function () {});
  connect();
  requestAnimationFrame(frame);
})();
`;
