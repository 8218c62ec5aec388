// anomalog's built-in dashboard. Reads only the public API (/services,
// /windows, /anomalies) and writes only feedback. Every value that came from
// logs or from the model is put on the page with textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
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

function filters() {
  const q = new URLSearchParams();
  const service = $('f-service').value, severity = $('f-severity').value, range = $('f-range').value;
  if (service) q.set('service', service);
  if (range) q.set('since', String(Math.floor(Date.now() / 1000) - Number(range)));
  return {q, service, severity};
}

function fmt(ts) { return ts ? ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }

async function loadServices() {
  const sel = $('f-service'), keep = sel.value;
  const services = [];
  for (let cursor = ''; ;) {   // every page of the listing
    const page = await api('/services?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    services.push(...page.services);
    if (!(cursor = page.next_cursor)) break;
  }
  while (sel.options.length > 1) sel.remove(1);
  for (const s of services) sel.append(el('option', {value: s.name, text: s.name}));
  sel.value = keep;
  return services.map((s) => s.name);
}

async function loadTimelines(names) {
  const {q, service} = filters();
  const box = $('timelines');
  const rows = [];
  for (const name of service ? [service] : names) {
    const p = new URLSearchParams(q);
    p.set('service', name);
    p.set('limit', '200');
    const {windows} = await api('/windows?' + p);
    const cells = el('div', {class: 'cells'});
    for (const w of windows.slice().reverse()) {   // oldest on the left
      const health = w.status === 'analyzed' ? w.health : 'unknown';
      cells.append(el('button', {
        type: 'button', class: 'cell h-' + health, 'data-window': String(w.id), 'data-health': health,
        title: fmt(w.start) + ' .. ' + fmt(w.end) + ' — ' + w.status + ', ' + health + ', ' + w.line_count +
          ' lines, ' + w.anomaly_count + ' anomalies',
        onclick: () => showWindow(w.id),
      }));
    }
    rows.push(el('div', {class: 'timeline', 'data-service': name}, el('span', {class: 'name', text: name, title: name}),
      windows.length ? cells : el('span', {class: 'empty', text: 'no windows'})));
  }
  box.replaceChildren(...rows);
  if (!rows.length) box.append(el('p', {class: 'empty', text: 'No services yet: POST some logs to /ingest.'}));
}

function feedbackBox(a) {
  const state = el('span', {class: 'state', text: a.feedback ? 'marked ' + a.feedback.replace('_', ' ') : ''});
  const send = async (verdict) => {
    try {
      const upd = await api('/anomalies/' + a.id + '/feedback', {
        method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({verdict}),
      });
      state.textContent = 'marked ' + upd.feedback.replace('_', ' ');
    } catch (e) { status(e.message); }
  };
  return el('div', {class: 'fb'},
    el('button', {type: 'button', class: 'fp', text: 'False positive', onclick: () => send('false_positive')}),
    el('button', {type: 'button', class: 'tp', text: 'True positive', onclick: () => send('true_positive')}),
    state);
}

function anomalyCard(a) {
  const ev = el('pre', {class: 'evidence', text: (a.evidence || []).join('\n')});
  return el('article', {class: 'anomaly sev-' + a.severity, 'data-id': String(a.id), 'data-severity': a.severity},
    el('div', {class: 'head'},
      el('span', {class: 'sev', text: a.severity}),
      el('span', {class: 'type', text: a.type}),
      el('span', {class: 'service', text: a.service}),
      el('a', {href: '#window-' + a.window_id, text: fmt(a.window_start),
        onclick: (e) => { e.preventDefault(); showWindow(a.window_id); }}),
      a.suppressed ? el('span', {text: 'suppressed'}) : null,
      a.evidence_verified === false ? el('span', {class: 'unverified', text: 'unverified evidence',
        title: 'The evidence is not in the window: recorded, not notified.'}) : null),
    el('div', {class: 'summary', text: a.summary}),
    ev,
    el('div', {class: 'action', text: a.recommended_action ? 'Action: ' + a.recommended_action : ''}),
    feedbackBox(a));
}

async function loadAnomalies() {
  const {q, severity} = filters();
  if (severity) q.set('severity', severity);
  q.set('limit', '50');
  const {anomalies} = await api('/anomalies?' + q);
  const box = $('anomalies');
  box.replaceChildren(...anomalies.map(anomalyCard));
  if (!anomalies.length) box.append(el('p', {class: 'empty', text: 'No anomalies match.'}));
}

async function showWindow(id) {
  try {
    const w = await api('/windows/' + id);
    $('detail-title').textContent = '#' + w.id + ' ' + w.service + ' ' + fmt(w.start) + ' .. ' + fmt(w.end);
    const meta = $('detail-meta');
    meta.replaceChildren();
    for (const k of ['status', 'health', 'line_count', 'late_count', 'anomaly_count', 'analyzer', 'model',
      'prompt_tokens', 'completion_tokens', 'latency_ms', 'error']) {
      meta.append(el('dt', {text: k}), el('dd', {text: w[k] === null || w[k] === undefined ? '—' : String(w[k])}));
    }
    $('detail-anomalies').replaceChildren(...(w.anomalies || []).map((a) =>
      el('li', {text: '[' + a.severity + '] ' + a.type + ': ' + a.summary})));
    $('detail-digest').textContent = w.digest || '(no digest: the window has not been analysed)';
    $('detail-section').hidden = false;
    $('detail-section').scrollIntoView({block: 'nearest'});
  } catch (e) { status(e.message); }
}

async function refresh() {
  status('loading…');
  try {
    const names = await loadServices();
    await Promise.all([loadTimelines(names), loadAnomalies()]);
    status('updated ' + new Date().toLocaleTimeString());
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (e) { status(e.message); }
}

for (const id of ['f-service', 'f-severity', 'f-range']) $(id).addEventListener('change', refresh);
$('refresh').addEventListener('click', refresh);
$('detail-close').addEventListener('click', () => { $('detail-section').hidden = true; });
refresh();
setInterval(refresh, 30000);
