// ghostpeer's page: findings, an address's timeline, a service, the nodes.
// Reads only /api/v1/* (the Query API as JSON). Everything in that JSON
// comes from nodes and is hostile: it reaches the page through textContent
// and setAttribute on plain attributes, never as markup.
'use strict';

(function () {
  // --- small helpers -------------------------------------------------------

  const SVG_NS = 'http://www.w3.org/2000/svg';

  // el('a', {href: '/x', class: 'y'}, 'text', child...): an element whose
  // text children are text nodes, so data never becomes markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(
          typeof child === 'object' ? child : document.createTextNode(String(child)));
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // Proto JSON: timestamps are RFC 3339 strings, 64-bit numbers strings.
  function time(ts) {
    if (!ts) return null;
    const t = Date.parse(ts);
    return Number.isNaN(t) ? null : t;
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  // The story's way of writing a time: "12:03:04 UTC" today, with the date
  // on another day.
  function storyTime(ms) {
    if (ms === null) return '-';
    const d = new Date(ms);
    const now = new Date();
    const hms = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' +
        pad(d.getUTCSeconds()) + ' UTC';
    if (d.toISOString().slice(0, 10) === now.toISOString().slice(0, 10)) return hms;
    return d.toISOString().slice(0, 10) + ' ' + hms;
  }

  // "5s", "3m", "2h", "4d", like the CLI's AGE column.
  function age(ms) {
    if (ms === null) return '-';
    let s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 120) return s + 's';
    if (s < 7200) return Math.round(s / 60) + 'm';
    if (s < 172800) return Math.round(s / 3600) + 'h';
    return Math.round(s / 86400) + 'd';
  }

  // A proto JSON duration ("0.002605059s") as people read it: "3 ms".
  function lag(text) {
    const seconds = parseFloat(text || '');
    if (Number.isNaN(seconds)) return '-';
    if (Math.abs(seconds) < 1) return Math.round(seconds * 1000) + ' ms';
    return seconds.toFixed(1) + ' s';
  }

  function bytes(value) {
    let n = Number(value || 0);
    if (n < 1000) return n + ' B';
    const units = ['KB', 'MB', 'GB', 'TB'];
    let i = -1;
    do { n /= 1000; i++; } while (n >= 1000 && i < units.length - 1);
    return n.toFixed(1) + ' ' + units[i];
  }

  function endpoint(ip, port) {
    if (!ip) return '-';
    const host = ip.includes(':') ? '[' + ip + ']' : ip;
    return Number(port || 0) ? host + ':' + port : ip;
  }

  // The CLI's words (cli/flag_values.cc).
  const KIND_NAMES = {
    VANISHED_PEER: 'vanished',
    REASSIGNED_PEER: 'reassigned',
    CLOSE_WAIT_WRITER: 'close-wait-writer',
  };
  const SEVERITY_RANK = {INFO: 1, WARNING: 2, CRITICAL: 3};
  const CLOSE_REASONS = {
    CLOSE_REASON_DETACHED: 'detached',
    CLOSE_REASON_CONTAINER_DIED: 'container died',
    CLOSE_REASON_TASK_ENDED: 'task ended',
  };

  function kindName(kind) { return KIND_NAMES[kind] || '?'; }

  // common/story.cc OwnerName.
  function ownerName(owner) {
    if (!owner) return '';
    if (owner.kind === 'OWNER_KIND_SWARM_VIP') {
      return owner.service ? 'VIP of ' + owner.service : 'a service VIP';
    }
    if (owner.task) return owner.task;
    if (owner.container_name) return owner.container_name;
    if (owner.service) return owner.service;
    if (owner.kind === 'OWNER_KIND_HOST') return owner.node ? 'host ' + owner.node : 'a host';
    if (owner.netns) return 'netns ' + owner.netns;
    if (Number(owner.netns_inode || 0)) return 'netns inode:' + owner.netns_inode;
    return '';
  }

  // common/story.cc ClientName.
  function clientName(socket) {
    if (socket.task) return socket.task;
    if (socket.container_name) return socket.container_name;
    if (socket.service) return socket.service;
    if (Number(socket.netns_inode || 0)) return 'netns:' + socket.netns_inode;
    return 'host';
  }

  function processName(socket) {
    if (socket.comm && socket.pid) return socket.comm + '/' + socket.pid;
    if (socket.comm) return socket.comm;
    if (socket.pid) return 'pid ' + socket.pid;
    return '-';
  }

  function addressLink(ip, port) {
    if (!ip) return '-';
    return el('a', {href: '/address/' + encodeURIComponent(ip), class: 'addr'},
              endpoint(ip, port));
  }

  function serviceLink(service) {
    if (!service) return null;
    return el('a', {href: '/service/' + encodeURIComponent(service)}, service);
  }

  // --- data ------------------------------------------------------------------

  class HttpError extends Error {}

  async function getJson(url) {
    const response = await fetch(url, {credentials: 'same-origin'});
    if (response.status === 401) {
      location.assign('/login?next=' + encodeURIComponent(location.pathname));
      throw new HttpError('log in first');
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new HttpError(body.error || response.statusText);
    return body;
  }

  // Every finding the page knows, by id, kept current from the events
  // stream; pages redraw on change.
  const store = {
    findings: new Map(),
    listeners: new Set(),
    source: null,
    changed() { for (const f of this.listeners) f(); },
    put(finding) {
      if (!finding || !finding.id) return;
      this.findings.set(finding.id, finding);
    },
    async load() {
      const all = await getJson('/api/v1/findings?status=all');
      for (const f of all.findings || []) this.put(f);
      this.changed();
    },
    // The events stream: every open finding first, then each change.
    follow() {
      const live = document.getElementById('live');
      const source = new EventSource('/api/v1/events');
      this.source = source;
      source.addEventListener('open', () => {
        live.dataset.state = 'live';
        live.textContent = 'live';
        document.body.dataset.live = 'connected';
      });
      source.addEventListener('finding', (message) => {
        let event;
        try { event = JSON.parse(message.data); } catch (e) { return; }
        const finding = event.finding || {};
        if (event.type === 'CLOSED' && finding.status !== 'RESOLVED') {
          finding.status = 'RESOLVED';
        }
        this.put(finding);
        this.changed();
      });
      source.addEventListener('error', () => {
        live.dataset.state = 'down';
        live.textContent = 'reconnecting…';
        document.body.dataset.live = 'reconnecting';
        // A network error: EventSource retries by itself. An HTTP error
        // (the server busy, restarted with a token): it gives up, so start
        // over a little later, reading what changed meanwhile.
        if (source.readyState === EventSource.CLOSED) {
          setTimeout(() => {
            this.load().catch(() => {}).finally(() => this.follow());
          }, 5000);
        }
      });
    },
  };

  // Leaving the page ends its stream at once rather than when the server
  // next writes to it.
  window.addEventListener('pagehide', () => { if (store.source) store.source.close(); });

  // --- findings ----------------------------------------------------------------

  // Open findings, and resolved ones this recent.
  const RECENTLY_RESOLVED_MS = 24 * 3600 * 1000;

  function sortedFindings(filter) {
    const now = Date.now();
    return [...store.findings.values()]
        .filter((f) => f.status === 'OPEN' ||
                (time(f.resolved_at) !== null && now - time(f.resolved_at) < RECENTLY_RESOLVED_MS))
        .filter(filter || (() => true))
        .sort((a, b) => (a.status === 'OPEN' ? 0 : 1) - (b.status === 'OPEN' ? 0 : 1) ||
              (time(b.first_seen) || 0) - (time(a.first_seen) || 0));
  }

  function field(label, ...value) {
    return el('div', {class: 'field'}, el('span', {class: 'label'}, label),
              el('span', {class: 'value'}, ...value));
  }

  function findingCard(f) {
    const s = f.socket || {};
    const last = f.peer_last_owner;
    const now = f.peer_current_owner;
    const client = [
      serviceLink(s.service), s.service ? ' / ' : '', s.task || s.container_name || clientName(s),
    ];
    const card = el('article', {
      class: 'finding sev-' + String(f.severity || '').toLowerCase() +
          (f.status === 'RESOLVED' ? ' resolved' : ''),
      'data-finding-id': f.id,
      'data-kind': f.kind,
    },
    el('div', {class: 'finding-head'},
       el('span', {class: 'sev'}, f.severity || '?'),
       el('span', {class: 'kind'}, kindName(f.kind)),
       f.status === 'RESOLVED' ?
           el('span', {class: 'status'}, 'resolved ' + storyTime(time(f.resolved_at))) :
           el('span', {class: 'status open'}, 'open'),
       el('a', {class: 'permalink', href: '/finding/' + encodeURIComponent(f.id)}, 'age ' + age(time(f.first_seen)))),
    el('p', {class: 'story'}, f.story || ''),
    el('div', {class: 'fields'},
       field('client', ...client),
       field('node', s.node || '-'),
       field('process', processName(s)),
       field('peer', addressLink(s.remote_ip, s.remote_port),
             s.backend_ip ? [' → ', addressLink(s.backend_ip, s.backend_port)] : null),
       field('last owner', last ? ownerName(last) || '-' : '-',
             last && last.service && last.service !== ownerName(last) ? [' (', serviceLink(last.service), ')'] : null),
       field('left', last && last.until ? storyTime(time(last.until)) + ' (' + age(time(last.until)) + ' ago)' : '-'),
       field('now held by', now ? ownerName(now) || '-' : 'nobody'),
       field('at risk', bytes(f.bytes_at_risk))),
    f.remediation ? el('p', {class: 'remediation'}, f.remediation) : null);
    return card;
  }

  function findingsList(findings, empty) {
    if (findings.length === 0) return el('p', {class: 'muted empty'}, empty);
    return el('div', {class: 'findings'}, findings.map(findingCard));
  }

  function select(id, label, options, value) {
    const node = el('select', {id: id, name: id},
                    el('option', {value: ''}, 'any'),
                    options.map((o) => el('option', {value: o[0], selected: o[0] === value}, o[1])));
    return el('label', {class: 'filter'}, label + ' ', node);
  }

  function pageFindings(main) {
    const params = new URLSearchParams(location.search);
    const filter = {
      service: params.get('service') || '',
      node: params.get('node') || '',
      kind: params.get('kind') || '',
      severity: params.get('severity') || '',
    };
    const bar = el('form', {class: 'filters', id: 'filters'});
    const summary = el('p', {class: 'summary'});
    const list = el('div', {id: 'findings'});
    append(main, [el('h1', {}, 'Findings'), bar, summary, list]);

    function matches(f) {
      const s = f.socket || {};
      if (filter.service && s.service !== filter.service) return false;
      if (filter.node && s.node !== filter.node) return false;
      if (filter.kind && f.kind !== filter.kind) return false;
      if (filter.severity && (SEVERITY_RANK[f.severity] || 0) < SEVERITY_RANK[filter.severity]) return false;
      return true;
    }

    function drawFilters() {
      const services = new Set();
      const nodes = new Set();
      for (const f of store.findings.values()) {
        const s = f.socket || {};
        if (s.service) services.add(s.service);
        if (s.node) nodes.add(s.node);
      }
      const sorted = (set, current) => [...new Set([...set, current].filter(Boolean))].sort().map((v) => [v, v]);
      clear(bar);
      append(bar, [
        select('service', 'service', sorted(services, filter.service), filter.service),
        select('node', 'node', sorted(nodes, filter.node), filter.node),
        select('kind', 'kind', Object.entries(KIND_NAMES), filter.kind),
        select('severity', 'severity ≥', [['INFO', 'INFO'], ['WARNING', 'WARNING'], ['CRITICAL', 'CRITICAL']], filter.severity),
      ]);
    }

    bar.addEventListener('change', (e) => {
      filter[e.target.name] = e.target.value;
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(filter)) if (v) query.set(k, v);
      history.replaceState(null, '', location.pathname + (query.toString() ? '?' + query : ''));
      draw();
    });

    function draw() {
      const shown = sortedFindings(matches);
      const open = shown.filter((f) => f.status === 'OPEN').length;
      summary.textContent = open + ' open, ' + (shown.length - open) + ' resolved in the last 24 h';
      clear(list).appendChild(findingsList(shown, 'No findings: no client is writing to an address nobody answers for.'));
      if (document.activeElement === null || !bar.contains(document.activeElement)) drawFilters();
    }
    drawFilters();
    return draw;
  }

  function pageFinding(main, id) {
    const box = el('div', {id: 'finding'});
    append(main, [el('h1', {}, 'Finding ', el('code', {}, id)), box]);
    return () => {
      const f = store.findings.get(id);
      clear(box);
      if (!f) {
        box.appendChild(el('p', {class: 'muted'}, 'No such finding here (resolved findings leave after the retention).'));
        return;
      }
      const s = f.socket || {};
      const ip = s.backend_ip || s.remote_ip;
      append(box, [findingCard(f),
        el('p', {}, 'Timeline of the peer: ', addressLink(ip)),
        s.service ? el('p', {}, 'Client service: ', serviceLink(s.service)) : null]);
    };
  }

  // --- timeline (SVG) -----------------------------------------------------------

  // Owners as bars over time, one row each; a "nobody" row shows the gaps
  // where nobody held the address, and marks where clients wrote into them.
  // options.gaps false: no "nobody" row (a service's tasks, not one
  // address); options.label names an interval's row.
  function timeline(intervals, findings, from, to, options) {
    const opts = Object.assign({gaps: true, label: (i) => ownerName(i) || '?'}, options || {});
    const width = 1000;
    const labelWidth = 190;
    const rowHeight = 26;
    const owners = [];
    const rowOf = new Map();
    for (const i of intervals) {
      const name = opts.label(i);
      const key = name + '\u0000' + (i.node || '');
      if (!rowOf.has(key)) { rowOf.set(key, owners.length); owners.push({name: name, node: i.node}); }
    }
    const nobodyRow = owners.length;
    const rows = owners.length + (opts.gaps ? 1 : 0);
    const height = rows * rowHeight + 34;
    const span = Math.max(1, to - from);
    const x = (t) => labelWidth + (Math.min(Math.max(t, from), to) - from) / span * (width - labelWidth - 10);

    const chart = svg('svg', {
      class: 'timeline', viewBox: '0 0 ' + width + ' ' + height, role: 'img',
      'aria-label': 'ownership timeline', preserveAspectRatio: 'xMinYMin meet',
    });
    owners.forEach((o, row) => {
      // The label column is labelWidth wide: a swarm task's full name (with
      // its 25-character id) would run under the bars. Cut in the middle,
      // the whole name on hover.
      const full = o.name + (o.node ? ' @' + o.node : '');
      const shown = full.length <= 26 ? full : full.slice(0, 17) + '\u2026' + full.slice(-8);
      chart.appendChild(svg('text', {x: 4, y: row * rowHeight + 17, class: 'row-label'},
                            shown, svg('title', {}, full)));
    });
    if (opts.gaps) {
      chart.appendChild(svg('text', {x: 4, y: nobodyRow * rowHeight + 17, class: 'row-label nobody'}, 'nobody'));
    }

    for (const i of intervals) {
      const row = rowOf.get(opts.label(i) + '\u0000' + (i.node || ''));
      const start = time(i.since) || from;
      const end = time(i.until) || to;
      const bar = svg('rect', {
        class: 'owner-bar' + (i.until ? '' : ' held'),
        x: x(start), y: row * rowHeight + 4, height: rowHeight - 8,
        width: Math.max(2, x(end) - x(start)), rx: 3,
      });
      bar.appendChild(svg('title', {}, ownerName(i) + ': ' + storyTime(start) + ' – ' +
                                        (i.until ? storyTime(end) : 'now')));
      chart.appendChild(bar);
    }

    // Gaps: the parts of [from, to] no interval covers.
    // Before its first known holder nothing is known, so no gap is drawn.
    const covered = intervals.map((i) => [time(i.since) || from, time(i.until) || to])
        .sort((a, b) => a[0] - b[0]);
    let cursor = covered.length ? covered[0][0] : from;
    const gaps = [];
    if (!opts.gaps) cursor = to;
    for (const [s, e] of covered) {
      if (s > cursor) gaps.push([cursor, s]);
      cursor = Math.max(cursor, e);
    }
    if (cursor < to) gaps.push([cursor, to]);
    for (const [s, e] of gaps) {
      if (x(e) - x(s) < 1) continue;
      const gap = svg('rect', {
        class: 'gap', x: x(s), y: nobodyRow * rowHeight + 4,
        width: x(e) - x(s), height: rowHeight - 8,
      });
      gap.appendChild(svg('title', {}, 'nobody held it: ' + storyTime(s) + ' – ' + storyTime(e)));
      chart.appendChild(gap);
    }
    // Writes into the void: the clients of vanished-peer findings, from
    // first to last seen, where that falls in a gap (a finding that began
    // as a close-wait writer was seen before its peer left).
    for (const f of findings) {
      if (f.kind !== 'VANISHED_PEER') continue;
      const seen = time(f.first_seen) || from;
      const last = f.status === 'OPEN' ? to : (time(f.last_seen) || seen);
      for (const [gs, ge] of gaps) {
        const s = Math.max(seen, gs);
        const e = Math.min(last, ge);
        if (e < s) continue;
        const mark = svg('rect', {
          class: 'write-mark', x: x(s), y: nobodyRow * rowHeight + 9,
          width: Math.max(3, x(e) - x(s)), height: rowHeight - 18,
        });
        mark.appendChild(svg('title', {}, clientName(f.socket || {}) + ' wrote while nobody held it (' +
                                           bytes(f.bytes_at_risk) + ' at risk)'));
        chart.appendChild(mark);
      }
    }
    // The time axis.
    const axisY = rows * rowHeight + 6;
    chart.appendChild(svg('line', {class: 'axis', x1: labelWidth, x2: width - 10, y1: axisY, y2: axisY}));
    for (let k = 0; k <= 4; k++) {
      const t = from + span * k / 4;
      chart.appendChild(svg('text', {class: 'tick', x: x(t), y: axisY + 18,
                                     'text-anchor': k === 0 ? 'start' : (k === 4 ? 'end' : 'middle')},
                            storyTime(t)));
    }
    return chart;
  }

  function intervalTable(intervals) {
    if (intervals.length === 0) return el('p', {class: 'muted'}, 'Nobody held it in the retained history.');
    return el('div', {class: 'scroll'}, el('table', {},
      el('thead', {}, el('tr', {}, ['OWNER', 'KIND', 'SERVICE', 'NODE', 'SINCE', 'UNTIL', 'WHY IT ENDED'].map((h) => el('th', {}, h)))),
      el('tbody', {}, intervals.map((i) => el('tr', {},
        el('td', {}, ownerName(i) || '-'),
        el('td', {}, String(i.kind || '').replace('OWNER_KIND_', '').toLowerCase().replace('_', '-')),
        el('td', {}, serviceLink(i.service) || '-'),
        el('td', {}, i.node || '-'),
        el('td', {}, storyTime(time(i.since))),
        el('td', {}, i.until ? storyTime(time(i.until)) : 'holds it'),
        el('td', {}, CLOSE_REASONS[i.close_reason] || (i.until ? String(i.close_reason || '').replace('CLOSE_REASON_', '').toLowerCase() : '')))))));
  }

  function socketTable(sockets) {
    if (sockets.length === 0) return el('p', {class: 'muted'}, 'No client holds a connection to it now.');
    return el('div', {class: 'scroll'}, el('table', {},
      el('thead', {}, el('tr', {}, ['NODE', 'CLIENT', 'PROCESS', 'LOCAL', 'PEER', 'STATE', 'SEND-Q'].map((h) => el('th', {}, h)))),
      el('tbody', {}, sockets.map((s) => el('tr', {},
        el('td', {}, s.node || '-'),
        el('td', {}, clientName(s)),
        el('td', {}, processName(s)),
        el('td', {}, endpoint(s.local_ip, s.local_port)),
        el('td', {}, addressLink(s.remote_ip, s.remote_port)),
        el('td', {}, String(s.state || '').replace('TCP_STATE_', '')),
        el('td', {class: 'num'}, String(s.send_queue || 0)))))));
  }

  function aboutAddress(f, ip) {
    const s = f.socket || {};
    return s.remote_ip === ip || s.backend_ip === ip;
  }

  function pageAddress(main, ip) {
    const chartBox = el('div', {id: 'timeline', class: 'chart'});
    const intervalsBox = el('div', {id: 'intervals'});
    const socketsBox = el('div', {id: 'sockets'});
    const findingsBox = el('div', {id: 'address-findings'});
    const status = el('p', {class: 'muted'});
    append(main, [el('h1', {}, 'Address ', el('code', {}, ip)), status,
      el('h2', {}, 'Who held it'), chartBox, intervalsBox,
      el('h2', {}, 'Clients connected to it now'), socketsBox,
      el('h2', {}, 'Findings about it'), findingsBox]);
    let history = null;
    let sockets = [];
    let pending = null;

    async function refresh() {
      try {
        const [h, s] = await Promise.all([
          getJson('/api/v1/addresses/' + encodeURIComponent(ip) + '/history'),
          getJson('/api/v1/sockets?remote_ip=' + encodeURIComponent(ip)),
        ]);
        history = h;
        sockets = s.sockets || [];
        status.textContent = history.retained_since ?
            'History retained since ' + storyTime(time(history.retained_since)) + '.' : '';
        status.className = 'muted';
      } catch (e) {
        status.textContent = e.message;
        status.className = 'error';
      }
      draw();
    }

    function draw() {
      const findings = sortedFindings((f) => aboutAddress(f, ip));
      clear(findingsBox).appendChild(findingsList(findings, 'No findings about it.'));
      clear(socketsBox).appendChild(socketTable(sockets));
      if (!history) return;
      const intervals = history.intervals || [];
      // From the first thing known about it to now, at least a minute.
      const to = Date.now();
      let start = to;
      for (const i of intervals) start = Math.min(start, time(i.since) || start);
      for (const f of findings) start = Math.min(start, time(f.first_seen) || start);
      if (start === to) start = to - 5 * 60 * 1000;
      const from = start - Math.max(to - start, 60 * 1000) * 0.04;
      clear(chartBox).appendChild(timeline(intervals, findings, from, to));
      clear(intervalsBox).appendChild(intervalTable(intervals));
      document.body.dataset.timeline = 'drawn';
    }

    refresh();
    // A change to a finding about it may mean its history moved too.
    return () => {
      draw();
      clearTimeout(pending);
      pending = setTimeout(refresh, 500);
    };
  }

  // --- service ----------------------------------------------------------------

  function pageService(main, name) {
    const addressesBox = el('div', {id: 'service-addresses'});
    const clientBox = el('div', {});
    const ownerBox = el('div', {});
    append(main, [el('h1', {}, 'Service ', el('code', {}, name)),
      el('h2', {}, 'Its tasks\u2019 addresses over time'), addressesBox,
      el('h2', {}, 'Findings where it is the client'), clientBox,
      el('h2', {}, 'Findings where it was the last owner'), ownerBox]);

    // Where findings say it last was.
    function findingAddresses() {
      const addresses = new Set();
      for (const f of store.findings.values()) {
        const last = f.peer_last_owner;
        if (last && last.service === name && last.address) addresses.add(last.address);
      }
      return addresses;
    }

    async function loadAddresses() {
      // Its addresses: where its sockets are, and where findings say it
      // last was; each address's history then names its tasks.
      const addresses = findingAddresses();
      try {
        const sockets = await getJson('/api/v1/sockets?limit=10000');
        for (const s of sockets.sockets || []) if (s.service === name && s.local_ip) addresses.add(s.local_ip);
      } catch (e) { /* shown below as no addresses */ }
      const rows = [];
      for (const ip of [...addresses].sort().slice(0, 20)) {
        try {
          const h = await getJson('/api/v1/addresses/' + encodeURIComponent(ip) + '/history');
          for (const i of h.intervals || []) if (i.service === name) rows.push(i);
        } catch (e) { /* an address that went invalid: skip it */ }
      }
      rows.sort((a, b) => (time(a.since) || 0) - (time(b.since) || 0));
      clear(addressesBox);
      if (rows.length === 0) {
        addressesBox.appendChild(el('p', {class: 'muted'}, 'No address of its tasks in the retained history.'));
        return;
      }
      const to = Date.now();
      const start = Math.min(...rows.map((i) => time(i.since) || to));
      const from = start - Math.max(to - start, 60 * 1000) * 0.04;
      addressesBox.appendChild(el('div', {class: 'chart'},
          timeline(rows, [], from, to, {gaps: false, label: (i) => (ownerName(i) || '?') + ' ' + i.address})));
      addressesBox.appendChild(el('div', {class: 'scroll'}, el('table', {},
        el('thead', {}, el('tr', {}, ['TASK', 'ADDRESS', 'NODE', 'SINCE', 'UNTIL'].map((h) => el('th', {}, h)))),
        el('tbody', {}, rows.map((i) => el('tr', {},
          el('td', {}, ownerName(i) || '-'),
          el('td', {}, addressLink(i.address)),
          el('td', {}, i.node || '-'),
          el('td', {}, storyTime(time(i.since))),
          el('td', {}, i.until ? storyTime(time(i.until)) : 'holds it')))))));
    }
    // The findings arrive after the page is built (and change): a service
    // whose tasks are gone is known only from them, so its addresses are
    // read again whenever the findings name a new one.
    let loadedFor = null;
    function loadAddressesIfNew() {
      const key = [...findingAddresses()].sort().join(' ');
      if (key === loadedFor) return;
      loadedFor = key;
      loadAddresses();
    }
    loadAddressesIfNew();
    return () => {
      loadAddressesIfNew();
      clear(clientBox).appendChild(findingsList(
          sortedFindings((f) => (f.socket || {}).service === name), 'None.'));
      clear(ownerBox).appendChild(findingsList(
          sortedFindings((f) => (f.peer_last_owner || {}).service === name), 'None.'));
    };
  }

  // --- nodes ---------------------------------------------------------------------

  // "ready, active, manager; heartbeat failure" from the managers' view.
  function swarmView(node) {
    if (!node) return '';
    const words = [
      [node.state, 'SWARM_NODE_STATE_'], [node.availability, 'SWARM_NODE_AVAILABILITY_'],
      [node.role, 'SWARM_NODE_ROLE_'],
    ].map(([value, prefix]) => String(value || '').replace(prefix, '').toLowerCase())
        .filter((w) => w && w !== 'unspecified');
    let view = words.join(', ');
    if (node.message) view += '; ' + node.message;
    if (node.state === 'SWARM_NODE_STATE_DOWN' && node.state_since) {
      view += ' (down since ' + storyTime(time(node.state_since)) + ')';
    }
    return view;
  }

  function pageNodes(main) {
    const box = el('div', {id: 'nodes'});
    append(main, [el('h1', {}, 'Nodes'), box]);
    async function refresh() {
      let nodes;
      try {
        nodes = (await getJson('/api/v1/nodes')).nodes || [];
      } catch (e) {
        clear(box).appendChild(el('p', {class: 'error'}, e.message));
        return;
      }
      clear(box);
      if (nodes.length === 0) {
        box.appendChild(el('p', {class: 'muted'}, 'No node has reported yet.'));
        return;
      }
      box.appendChild(el('div', {class: 'scroll'}, el('table', {},
        el('thead', {}, el('tr', {}, ['NODE', 'AGENT', 'LAST REPORT', 'LAG', 'NAMESPACES', 'SOCKETS', 'VIPS', 'SWARM', 'DOCKER', 'VERSION'].map((h) => el('th', {}, h)))),
        el('tbody', {}, nodes.map((n) => {
          const last = time(n.last_report);
          const contact = time(n.last_contact);
          let agent = 'reporting';
          let cls = 'ok';
          if (n.lost) { agent = 'lost since ' + storyTime(time(n.lost_at)); cls = 'bad'; }
          else if (!n.connected) { agent = contact === null ? 'no agent' : 'silent since ' + storyTime(contact); cls = 'bad'; }
          const swarm = swarmView(n.swarm);
          return el('tr', {},
            el('td', {}, n.node),
            el('td', {class: cls}, agent),
            el('td', {}, last === null ? '-' : age(last) + ' ago'),
            el('td', {}, lag(n.lag)),
            el('td', {}, (n.namespaces_seen || 0) + ' seen, ' + (n.namespaces_failed || 0) + ' failed'),
            el('td', {class: 'num'}, String(n.sockets || 0)),
            el('td', {}, n.translation_status || '-'),
            el('td', {}, swarm ? swarm + (n.swarm_reported_by ? ' (per ' + n.swarm_reported_by + ')' : '') : '-'),
            el('td', {}, n.docker_status || '-'),
            el('td', {}, n.agent_version || '-'));
        })))));
    }
    refresh();
    const timer = setInterval(refresh, 5000);
    window.addEventListener('pagehide', () => clearInterval(timer));
    return () => {};
  }

  // --- start ------------------------------------------------------------------------

  function startLogin() {
    const params = new URLSearchParams(location.search);
    document.getElementById('next').value = params.get('next') || '/';
    document.getElementById('failed').hidden = params.get('failed') !== '1';
  }

  function start() {
    if (document.body.dataset.page === 'login') { startLogin(); return; }
    const main = clear(document.getElementById('main'));
    const path = location.pathname;
    let draw;
    let m;
    if ((m = path.match(/^\/address\/([^/]+)$/))) {
      document.title = 'ghostpeer: ' + decodeURIComponent(m[1]);
      draw = pageAddress(main, decodeURIComponent(m[1]));
    } else if ((m = path.match(/^\/service\/([^/]+)$/))) {
      document.title = 'ghostpeer: service ' + decodeURIComponent(m[1]);
      draw = pageService(main, decodeURIComponent(m[1]));
    } else if ((m = path.match(/^\/finding\/([^/]+)$/))) {
      draw = pageFinding(main, decodeURIComponent(m[1]));
    } else if (path === '/nodes') {
      document.getElementById('nav-nodes').classList.add('current');
      draw = pageNodes(main);
    } else {
      document.getElementById('nav-findings').classList.add('current');
      draw = pageFindings(main);
    }
    let scheduled = false;
    store.listeners.add(() => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => { scheduled = false; draw(); });
    });
    store.load().catch((e) => {
      main.insertBefore(el('p', {class: 'error'}, 'Cannot read findings: ' + e.message), main.firstChild);
    }).finally(() => store.follow());
  }

  document.addEventListener('DOMContentLoaded', start);
})();
