// anomalog's built-in dashboard. Reads only the public API (/services, /windows, /windows/{id},
// /windows/{id}/lines, /anomalies, /incidents, /incidents/{id}, /suppressions, /notifications) and writes
// only feedback (on an anomaly, or on an incident and so on each of its members). Every value
// that came from logs or from the model is put on the page with textContent, never as HTML.
//
// Its state lives in the URL, so a reload or a shared link shows the same thing: the view, the filters and the
// overview's page of service rows in the query string
// (?view=notifications&service=api&severity=high&range=3600&nstatus=pending, ?rows=<GET /services cursor>),
// the open window or incident in the fragment (#window-12, #incident-3). The server answers a browser's
// /windows/{id} and /incidents/{id} with this page, which opens what the path names.
'use strict';

const $ = (id) => document.getElementById(id);
const VIEWS = ['overview', 'incidents', 'suppressions', 'notifications'];
const FILTERS = {service: 'f-service', severity: 'f-severity', range: 'f-range', nstatus: 'f-nstatus',
  istatus: 'f-istatus'};
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const LINES_PAGE = 100;         // lines fetched per page in a window's view
const WINDOWS_PER_SERVICE = 200;
const ROWS_PAGE = 50;           // service rows on the overview per page (GET /services' cursor pages them)
const BANDS_MAX = 200;          // incidents drawn as bands on the overview (the newest)

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k === 'style') Object.assign(e.style, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

// The token, when the server has one: the page asks for it on a 401 (or open it as /#token=<token>; the
// fragment is never sent to the server). It is kept for this tab only and sent as a bearer token.
function readToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    try { sessionStorage.setItem('anomalog-token', decodeURIComponent(m[1])); } catch (e) { /* private mode */ }
    history.replaceState(null, '', location.pathname + location.search);
  }
  try { return sessionStorage.getItem('anomalog-token') || ''; } catch (e) { return ''; }
}
let token = readToken();

async function api(path, opts) {
  const headers = Object.assign({'Accept': 'application/json'}, (opts && opts.headers) || {});
  const sent = token;
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const r = await fetch(path, Object.assign({}, opts || {}, {headers}));
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (r.status === 401 && token !== sent) return api(path, opts); // a token was given meanwhile
  if (r.status === 401) {
    const need = /needs the (\w+) token/.exec((body && body.error && body.error.message) || '');
    const given = window.prompt('This needs the ' + (need ? need[1] : 'read') + ' token (kept for this tab only):');
    if (given && given !== token) {
      token = given;
      try { sessionStorage.setItem('anomalog-token', token); } catch (e) { /* private mode */ }
      return api(path, opts);
    }
    throw new Error('this needs the ' + (need ? need[1] : 'read') + ' token');
  }
  if (!r.ok) {
    const msg = body && body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + r.status;
    throw new Error(path + ': ' + msg);
  }
  return body;
}

function status(text) { $('status').textContent = text || ''; }
function fmt(ts) { return ts ? ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
function bump(key) { document.body.dataset[key] = String(Number(document.body.dataset[key] || 0) + 1); }

// ---- the URL is the state ------------------------------------------------------------------------

const state = {view: 'overview', service: '', severity: '', range: '', nstatus: '', istatus: '', rows: '', window: 0,
  incident: 0};

function readUrl() {
  const q = new URLSearchParams(location.search);
  state.view = VIEWS.includes(q.get('view')) ? q.get('view') : 'overview';
  for (const k of Object.keys(FILTERS)) state[k] = q.get(k) || '';
  state.rows = q.get('rows') || '';
  const w = /^\/windows\/(\d+)\/?$/.exec(location.pathname) || /^#window-(\d+)$/.exec(location.hash);
  const i = /^\/incidents\/(\d+)\/?$/.exec(location.pathname) || /^#incident-(\d+)$/.exec(location.hash);
  state.window = w ? Number(w[1]) : 0;
  state.incident = i && !w ? Number(i[1]) : 0;
  if (state.window) state.view = 'overview';
  if (state.incident) state.view = 'incidents';
}

// The canonical address of the state: / with the query, and #window-N or #incident-N for what is open.
function writeUrl(push) {
  const q = new URLSearchParams();
  if (state.view !== 'overview') q.set('view', state.view);
  for (const k of Object.keys(FILTERS)) if (state[k]) q.set(k, state[k]);
  if (state.rows) q.set('rows', state.rows);
  const frag = state.window ? '#window-' + state.window : state.incident ? '#incident-' + state.incident : '';
  const url = '/' + (String(q) ? '?' + q : '') + frag;
  if (url !== location.pathname + location.search + location.hash) {
    history[push ? 'pushState' : 'replaceState'](null, '', url);
  }
}

function setSelect(sel, value) {
  if (value && ![...sel.options].some((o) => o.value === value)) {
    sel.append(el('option', {value, text: value}));   // a service from a link that has no windows (yet)
  }
  sel.value = value;
}

function showView() {
  for (const v of VIEWS) $('view-' + v).hidden = v !== state.view;
  for (const a of document.querySelectorAll('#views a')) {
    a.classList.toggle('current', a.dataset.view === state.view);
    if (a.dataset.view === state.view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  $('f-severity').disabled = state.view === 'notifications';
  $('f-range').disabled = state.view !== 'overview' && state.view !== 'incidents';
  $('f-service').disabled = state.view === 'notifications';
}

// ---- the overview: one time axis for every service -----------------------------------------------

const MIN = 60000, HOUR = 60 * MIN, DAY = 24 * HOUR;
const STEPS = [10000, 30000, MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR,
  12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY];

// Ticks at round UTC times, at most about eight across [t0, t1).
function ticks(t0, t1) {
  const step = STEPS.find((s) => (t1 - t0) / s <= 8) || STEPS[STEPS.length - 1];
  const out = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  let day = '';
  return out.map((t) => {
    const iso = new Date(t).toISOString();
    const d = iso.slice(0, 10);
    let label = step >= DAY ? d : iso.slice(11, step < MIN ? 19 : 16);
    if (step < DAY && d !== day) label = d.slice(5) + ' ' + label;   // the date where it changes
    day = d;
    return {t, label};
  });
}

// An incident's band on one service's row: a translucent strip over its start..end (clamped to the axis),
// coloured by severity, drawn over the windows without taking their clicks; its grip along the top opens it.
function band(i, t0, span) {
  const s = Math.max(Date.parse(i.start), t0), e = Math.min(Math.max(Date.parse(i.end), s), t0 + span);
  return el('button', {type: 'button', class: 'band sev-' + i.severity, 'data-incident': String(i.id),
    'data-start': i.start, 'data-end': i.end,
    style: {left: ((s - t0) / span * 100).toFixed(4) + '%', width: ((e - s) / span * 100).toFixed(4) + '%'},
    title: 'incident #' + i.id + ' (' + i.severity + ', ' + i.status + '), began at ' + i.root_service + ': ' +
      i.services.join(', ') + ', ' + fmt(i.start) + ' .. ' + fmt(i.end),
    onclick: () => openIncident(i.id)}, el('span', {class: 'grip'}));
}

function timeline(name, windows, t0, span, maxLines, marks, incidents) {
  const pos = (t) => ((t - t0) / span * 100).toFixed(4) + '%';
  const track = el('div', {class: 'track'});
  for (const m of marks) track.append(el('span', {class: 'grid', style: {left: pos(m.t)}}));
  for (const w of windows) {
    const health = w.status === 'analyzed' ? w.health : 'unknown';
    const s = Date.parse(w.start), e = Date.parse(w.end);
    const volume = maxLines ? Math.sqrt(w.line_count / maxLines) : 0;   // sqrt: a quiet window stays visible
    track.append(el('button', {
      type: 'button', class: 'cell h-' + health + (w.id === shown.id ? ' selected' : ''),
      'data-window': String(w.id), 'data-health': health, 'data-lines': String(w.line_count), 'data-start': w.start,
      style: {left: pos(s), width: ((e - s) / span * 100).toFixed(4) + '%', height: (20 + 80 * volume).toFixed(1) + '%'},
      title: fmt(w.start) + ' .. ' + fmt(w.end) + ' — ' + w.status + ', ' + health + ', ' + w.line_count +
        ' lines, ' + w.anomaly_count + ' anomalies',
      onclick: () => openWindow(w.id),
    }));
  }
  // a row without a window in range still shows the incidents it is in (its windows are older, or gone)
  for (const i of incidents) if (i.services.includes(name)) track.append(band(i, t0, span));
  if (!windows.length) track.append(el('span', {class: 'empty', text: 'no windows'}));
  return el('div', {class: 'timeline', 'data-service': name}, el('span', {class: 'name', text: name, title: name}),
    track);
}

// The overview's rows: the Service filter's service, or the page of ROWS_PAGE services (by name) that state.rows
// names (a GET /services cursor; '' for the first page); next: the cursor of the page after it, or null.
async function rowNames() {
  if (state.service) return {names: [state.service], next: null};
  const q = new URLSearchParams({limit: String(ROWS_PAGE)});
  if (state.rows) q.set('cursor', state.rows);
  const page = await api('/services?' + q);
  return {names: page.services.map((s) => s.name), next: page.next_cursor};
}

let rowsNext = null;   // the cursor of the next page of service rows, or null

// all: every service's name, by name (the Service filter's list)
async function loadTimelines(all) {
  const gen = refreshGen;
  const q = new URLSearchParams();
  if (state.range) q.set('since', String(Math.floor(Date.now() / 1000) - Number(state.range)));
  q.set('limit', String(WINDOWS_PER_SERVICE));
  const {names, next} = await rowNames();
  const rows = [];
  for (let i = 0; i < names.length; i += 6) {   // six requests at a time
    rows.push(...await Promise.all(names.slice(i, i + 6).map(async (name) => {
      const p = new URLSearchParams(q);
      p.set('service', name);
      const {windows} = await api('/windows?' + p);
      return {name, windows: windows.slice().reverse()};   // oldest on the left
    })));
  }
  if (gen !== refreshGen) return;   // a newer refresh draws instead
  const windows = rows.flatMap((r) => r.windows);
  const box = $('timelines');
  const paged = !state.service && (state.rows || next);
  const from = names.length ? all.indexOf(names[0]) + 1 : 0;
  $('timelines-more').textContent = paged && names.length ? 'Services ' + from + '–' + (from + names.length - 1) +
    ' of ' + all.length + ', by name.' : '';
  rowsNext = state.service ? null : next;
  $('rows-next').hidden = !rowsNext;
  $('rows-first').hidden = Boolean(state.service) || !state.rows;
  if (!rows.length) {
    box.replaceChildren(el('p', {class: 'empty', text: state.rows && !state.service ? 'No services on this page.'
      : 'No services yet: POST some logs to /ingest.'}));
    return;
  }
  if (!windows.length) {
    box.replaceChildren(...rows.map((r) => timeline(r.name, [], 0, 1, 0, [], [])));
    return;
  }
  // one axis for every row: from the earliest start to the latest end shown
  const t0 = Math.min(...windows.map((w) => Date.parse(w.start)));
  const t1 = Math.max(...windows.map((w) => Date.parse(w.end)));
  const span = Math.max(t1 - t0, 1);
  const incidents = await incidentsBetween(t0, t1);
  if (gen !== refreshGen) return;
  const maxLines = Math.max(...windows.map((w) => w.line_count));
  const marks = ticks(t0, t1);
  const axis = el('div', {class: 'timeline axis'}, el('span', {class: 'name', text: 'UTC'}), el('div', {class: 'track'},
    ...marks.map((m) => el('span', {class: (m.t - t0) / span > 0.9 ? 'tick end' : 'tick',   // label inside the edge
      'data-ts': new Date(m.t).toISOString(), text: m.label, style: {left: ((m.t - t0) / span * 100).toFixed(4) + '%'}}))));
  box.replaceChildren(axis, ...rows.map((r) => timeline(r.name, r.windows, t0, span, maxLines, marks, incidents)));
}

// The incidents whose span overlaps the axis [t0, t1], under the service and severity filters: the
// BANDS_MAX newest (one page).
async function incidentsBetween(t0, t1) {
  const q = new URLSearchParams({since: new Date(t0).toISOString(), until: new Date(t1 + 1).toISOString(),
    limit: String(BANDS_MAX)});
  if (state.service) q.set('service', state.service);
  if (state.severity) q.set('severity', state.severity);
  return (await api('/incidents?' + q)).incidents;
}

async function loadServices() {
  const gen = refreshGen;
  const services = [];
  for (let cursor = ''; ;) {   // every page of the listing
    const page = await api('/services?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    services.push(...page.services);
    if (!(cursor = page.next_cursor)) break;
  }
  const sel = $('f-service');
  if (gen !== refreshGen) return services.map((s) => s.name);
  while (sel.options.length > 1) sel.remove(1);
  for (const s of services) sel.append(el('option', {value: s.name, text: s.name}));
  setSelect(sel, state.service);
  return services.map((s) => s.name);
}

// The false / true positive buttons of an anomaly or an incident (path: /anomalies/N or /incidents/N; feedback:
// its verdict so far). Sending needs the write token: api() asks for it on a 401.
function feedbackBox(path, feedback) {
  const st = el('span', {class: 'state', text: feedback ? 'marked ' + feedback.replace('_', ' ') : ''});
  const send = async (verdict) => {
    try {
      const upd = await api(path + '/feedback', {
        method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({verdict}),
      });
      st.textContent = 'marked ' + upd.feedback.replace('_', ' ');
    } catch (e) { status(e.message); }
  };
  return el('div', {class: 'fb'},
    el('button', {type: 'button', class: 'fp', text: 'False positive', onclick: () => send('false_positive')}),
    el('button', {type: 'button', class: 'tp', text: 'True positive', onclick: () => send('true_positive')}),
    st);
}

function windowLink(id, text) {
  return el('a', {href: '#window-' + id, text, onclick: (e) => { e.preventDefault(); openWindow(id); }});
}

function anomalyCard(a) {
  return el('article', {class: 'anomaly sev-' + a.severity, 'data-id': String(a.id), 'data-severity': a.severity},
    el('div', {class: 'head'},
      el('span', {class: 'sev', text: a.severity}),
      el('span', {class: 'type', text: a.type}),
      el('span', {class: 'service', text: a.service}),
      windowLink(a.window_id, fmt(a.window_start)),
      a.suppressed ? el('span', {text: 'suppressed'}) : null,
      a.evidence_verified === false ? el('span', {class: 'unverified', text: 'unverified evidence',
        title: 'The evidence is not in the window: recorded, not notified.'}) : null),
    el('div', {class: 'summary', text: a.summary}),
    el('pre', {class: 'evidence', text: (a.evidence || []).join('\n')}),
    el('div', {class: 'action', text: a.recommended_action ? 'Action: ' + a.recommended_action : ''}),
    feedbackBox('/anomalies/' + a.id, a.feedback));
}

async function loadAnomalies() {
  const q = new URLSearchParams();
  if (state.service) q.set('service', state.service);
  if (state.range) q.set('since', String(Math.floor(Date.now() / 1000) - Number(state.range)));
  if (state.severity) q.set('severity', state.severity);
  q.set('limit', '50');
  const gen = refreshGen;
  const {anomalies} = await api('/anomalies?' + q);
  if (gen !== refreshGen) return;
  const box = $('anomalies');
  box.replaceChildren(...anomalies.map(anomalyCard));
  if (!anomalies.length) box.append(el('p', {class: 'empty', text: 'No anomalies match.'}));
}

// ---- a window's view: its fields, anomalies, lines (paged) and digest ------------------------------

let shown = {id: 0, cursor: null};   // the window on screen and where its next page of lines starts

function lineRow(l) {
  const level = (l.level || '').toLowerCase();
  const known = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(level) ? level : 'other';
  const msg = el('td', {class: 'msg', text: l.message});
  if (l.attributes) msg.append(el('span', {class: 'attrs', text: JSON.stringify(l.attributes)}));
  return el('tr', {class: 'lvl-' + known, 'data-line': String(l.id)},
    el('td', {class: 'ts', text: fmt(l.ts)}), el('td', {class: 'lvl', text: l.level || ''}), msg);
}

async function moreLines() {
  const id = shown.id;
  const q = new URLSearchParams({limit: String(LINES_PAGE)});
  if (shown.cursor) q.set('cursor', shown.cursor);
  const page = await api('/windows/' + id + '/lines?' + q);
  if (shown.id !== id) return;   // another window was opened meanwhile
  const body = $('detail-lines').tBodies[0];
  body.append(...page.lines.map(lineRow));
  shown.cursor = page.next_cursor;
  $('lines-more').hidden = !page.next_cursor;
  $('lines-count').textContent = body.rows.length + ' shown' + (page.next_cursor ? ', more below' : '');
}

async function showWindow(id) {
  shown = {id, cursor: null};
  $('detail-section').hidden = false;
  $('detail-title').textContent = '#' + id;
  $('detail-lines').tBodies[0].replaceChildren();
  $('lines-more').hidden = true;
  $('lines-count').textContent = '';
  try {
    const w = await api('/windows/' + id);
    if (shown.id !== id) return;
    $('detail-title').textContent = '#' + w.id + ' ' + w.service + ' ' + fmt(w.start) + ' .. ' + fmt(w.end);
    $('detail-meta').replaceChildren(...['status', 'health', 'line_count', 'late_count', 'anomaly_count', 'analyzer',
      'model', 'prompt_tokens', 'completion_tokens', 'latency_ms', 'error'].map((k) => el('span', {class: 'kv'},
      el('span', {class: 'k', text: k}), el('span', {text: w[k] === null || w[k] === undefined ? '—' : String(w[k])}))));
    $('detail-anomalies').replaceChildren(...(w.anomalies || []).map((a) =>
      el('li', {text: '[' + a.severity + '] ' + a.type + ': ' + a.summary})));
    if (!(w.anomalies || []).length) $('detail-anomalies').append(el('li', {class: 'empty', text: 'none'}));
    $('detail-digest').textContent = w.digest || '(no digest: the window has not been analysed)';
    await moreLines();
    for (const c of document.querySelectorAll('.cell.selected')) c.classList.remove('selected');
    for (const c of document.querySelectorAll('.cell[data-window="' + id + '"]')) c.classList.add('selected');
    document.body.dataset.window = String(id);
    $('detail-section').scrollIntoView({block: 'nearest'});
  } catch (e) {
    $('detail-meta').replaceChildren();
    $('detail-anomalies').replaceChildren();
    $('detail-digest').textContent = '';
    status(e.message);
  }
}

// ---- incidents: the list, and one with the timeline of its findings --------------------------------

// Table cells: text, or an element (a link).
function cells(...values) { return values.map((v) => (v instanceof Node ? el('td', {}, v) : el('td', {text: v}))); }

// A paged list in a table (the incidents, the notifications): load(q, more) fetches the first page (or, when more,
// the one after the last shown) under query q, draws its rows (empty: a row saying so) and shows its More button
// while there is a next page. It returns the answer, or null when a newer refresh began meanwhile.
function pagedTable(path, key, table, rowOf, empty, button) {
  let cursor = null;
  return async (q, more) => {
    if (more && cursor) q.set('cursor', cursor);
    const gen = refreshGen;
    const page = await api(path + '?' + q);
    if (gen !== refreshGen) return null;
    const body = $(table).tBodies[0];
    if (!more) body.replaceChildren();
    body.append(...page[key].map(rowOf));
    if (!body.rows.length) {
      body.append(el('tr', {}, el('td', {colspan: String($(table).tHead.rows[0].cells.length), class: 'empty',
        text: empty})));
    }
    cursor = page.next_cursor;
    $(button).hidden = !cursor;
    return page;
  };
}

let shownIncident = 0;

function incidentLink(id) {
  return el('a', {href: '#incident-' + id, text: '#' + id, onclick: (e) => { e.preventDefault(); openIncident(id); }});
}

function incidentRow(i) {
  return el('tr', {class: 'i-' + i.status + ' sev-' + i.severity, 'data-id': String(i.id), 'data-status': i.status},
    ...cells(incidentLink(i.id), i.status, i.severity, i.root_service, i.services.join(', '), fmt(i.start),
      fmt(i.end), i.summary));
}

const incidentsPage = pagedTable('/incidents', 'incidents', 'incidents', incidentRow, 'No incidents.', 'incidents-more');

async function loadIncidents(more) {
  const q = new URLSearchParams({limit: '50'});
  if (state.service) q.set('service', state.service);
  if (state.severity) q.set('severity', state.severity);
  if (state.range) q.set('since', String(Math.floor(Date.now() / 1000) - Number(state.range)));
  if (state.istatus) q.set('status', state.istatus);
  await incidentsPage(q, more);
}

async function showIncident(id) {
  shownIncident = id;
  $('incident-section').hidden = false;
  $('incident-title').textContent = '#' + id;
  try {
    const i = await api('/incidents/' + id);
    if (shownIncident !== id) return;
    $('incident-title').textContent = '#' + i.id + ' ' + i.severity + ', ' + i.status + ', began at ' + i.root_service;
    $('incident-meta').replaceChildren(...[['from', fmt(i.start)], ['to', fmt(i.end)], ['services', i.services.join(', ')],
      ['findings', String(i.members)], ['summary by', i.summary_by]].map(([k, v]) =>
      el('span', {class: 'kv'}, el('span', {class: 'k', text: k}), el('span', {text: v}))));
    $('incident-summary').textContent = i.summary;
    $('incident-feedback').replaceChildren(feedbackBox('/incidents/' + i.id, i.feedback));
    $('incident-cause').replaceChildren(...[['Why there', i.root_reason], ['Root cause', i.root_cause],
      ['First action', i.first_action]].filter(([, v]) => v).map(([k, v]) =>
      el('span', {class: 'line'}, el('b', {text: k + ': '}), v)));
    const body = $('incident-timeline').tBodies[0];
    body.replaceChildren(...(i.timeline || []).map((t) => el('tr', {class: 'sev-' + t.severity,
      'data-window': String(t.window_id)}, ...cells(fmt(t.first), fmt(t.last), t.service, t.severity, t.type, t.summary,
      windowLink(t.window_id, '#' + t.window_id)))));
    document.body.dataset.incident = String(id);
    $('incident-section').scrollIntoView({block: 'nearest'});
  } catch (e) {
    $('incident-meta').replaceChildren();
    $('incident-feedback').replaceChildren();
    $('incident-timeline').tBodies[0].replaceChildren();
    status(e.message);
  }
}

// ---- suppressions and notifications ----------------------------------------------------------------


async function loadSuppressions() {
  const gen = refreshGen;
  const {suppressions} = await api('/suppressions');
  if (gen !== refreshGen) return;
  const rank = (sev) => SEVERITIES.indexOf(sev);
  const rows = suppressions.filter((s) => (!state.service || s.service === state.service) &&
    (!state.severity || rank(s.severity) >= rank(state.severity)));
  const body = $('suppressions').tBodies[0];
  body.replaceChildren(...rows.map((s) => el('tr', {'data-service': s.service, 'data-type': s.type},
    ...cells(s.service, s.type, s.severity, fmt(s.opened_at), fmt(s.until), String(s.suppressed),
      '#' + s.opened_by))));
  if (!rows.length) body.append(el('tr', {}, el('td', {colspan: '7', class: 'empty', text: 'No open suppressions.'})));
}

function notificationRow(n) {
  return el('tr', {class: 'n-' + n.status, 'data-id': String(n.id), 'data-status': n.status},
    ...cells(fmt(n.created_at), n.service, n.severity, n.type, n.destination + ' (' + n.kind + ')', n.status,
      String(n.attempts), n.last_error || '', windowLink(n.window_id, '#' + n.window_id)));
}

const notificationsPage = pagedTable('/notifications', 'notifications', 'notifications', notificationRow,
  'No notifications.', 'notif-more');

async function loadNotifications(more) {
  const q = new URLSearchParams({limit: '50'});
  if (state.nstatus) q.set('status', state.nstatus);
  const page = await notificationsPage(q, more);
  if (!page) return;
  const c = page.counters;
  $('notif-counters').textContent = 'pending ' + c.pending + ' · sent ' + c.sent + ' · failed ' + c.failed +
    ' · dry run ' + c.dry_run;
}

// ---- putting it together ---------------------------------------------------------------------------

// Reloads what the view shows. Refreshes may overlap (a filter changed while one ran): each loader draws
// only while its refresh is the newest (refreshGen), so an older answer never paints over a newer one.
// body.dataset.loaded counts the newest refreshes that finished, dataset.busy the ones in flight.
let refreshGen = 0, inFlight = 0;

async function refresh() {
  const gen = ++refreshGen;
  document.body.dataset.busy = String(++inFlight);
  status('loading…');
  try {
    const names = await loadServices();
    if (state.view === 'overview') await Promise.all([loadTimelines(names), loadAnomalies()]);
    else if (state.view === 'incidents') await loadIncidents(false);
    else if (state.view === 'suppressions') await loadSuppressions();
    else await loadNotifications(false);
    if (gen === refreshGen) {
      status('updated ' + new Date().toLocaleTimeString());
      document.body.dataset.view = state.view;
      bump('loaded');
    }
  } catch (e) { status(e.message); }
  document.body.dataset.busy = String(--inFlight);
}

// Shows what the URL says: on load, on back/forward, on an edited fragment, after go().
function apply() {
  readUrl();
  for (const [k, id] of Object.entries(FILTERS)) setSelect($(id), state[k]);
  showView();
  if (state.window && state.window !== shown.id) showWindow(state.window);
  if (!state.window && shown.id) {
    shown = {id: 0, cursor: null};
    $('detail-section').hidden = true;
    delete document.body.dataset.window;
  }
  if (state.incident && state.incident !== shownIncident) showIncident(state.incident);
  if (!state.incident && shownIncident) {
    shownIncident = 0;
    $('incident-section').hidden = true;
    delete document.body.dataset.incident;
  }
  writeUrl(false);   // /windows/12 and /incidents/3 become /#window-12 and /#incident-3
  return refresh();
}

// Changes the state, puts it in the address (a new history entry when push) and shows it. A window is open
// only on the overview, an incident only on the incidents view.
function go(changes, push) {
  Object.assign(state, changes);
  if (state.view !== 'overview') state.window = 0;
  if (state.view !== 'incidents') state.incident = 0;
  writeUrl(push);
  return apply();
}
function openWindow(id) { return go({view: 'overview', window: id}, true); }
function openIncident(id) { return go({view: 'incidents', incident: id}, true); }

for (const [k, id] of Object.entries(FILTERS)) $(id).addEventListener('change', () => go({[k]: $(id).value}, false));
for (const a of document.querySelectorAll('#views a')) {
  a.addEventListener('click', (e) => { e.preventDefault(); go({view: a.dataset.view}, true); });
}
$('refresh').addEventListener('click', refresh);
$('detail-close').addEventListener('click', () => go({window: 0}, true));
$('incident-close').addEventListener('click', () => go({incident: 0}, true));
$('lines-more').addEventListener('click', () => moreLines().catch((e) => status(e.message)));
$('notif-more').addEventListener('click', () => loadNotifications(true).catch((e) => status(e.message)));
$('incidents-more').addEventListener('click', () => loadIncidents(true).catch((e) => status(e.message)));
$('rows-next').addEventListener('click', () => rowsNext && go({rows: rowsNext}, true));
$('rows-first').addEventListener('click', () => go({rows: ''}, true));
window.addEventListener('popstate', apply);
window.addEventListener('hashchange', apply);
apply();
setInterval(refresh, 30000);
