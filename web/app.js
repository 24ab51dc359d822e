/* app.js -- the tq dashboard's page: renders every view from the JSON API
 * of `tq dashboard` (cmd/tq/dashboard.c).
 *
 * The one rule: data is never HTML. Every value from the API goes into the
 * page as a text node or an attribute set through the DOM (el() below);
 * nothing here assigns innerHTML. The page is served with a
 * Content-Security-Policy that forbids inline script as a second wall.
 *
 * Live: the current view is fetched again every second while the tab is
 * visible (document.visibilityState), the rates chart every 5 s; a hidden
 * tab costs Redis nothing. Actions are POSTs carrying the X-TQ-CSRF token
 * of the page's <meta> and, when the dashboard has --token, the bearer
 * token typed into the login form (kept in sessionStorage).
 */
'use strict';

const CSRF = document.querySelector('meta[name="tq-csrf"]').content;
const READ_ONLY = document.querySelector('meta[name="tq-read-only"]').content === '1';
const STATES = ['pending', 'scheduled', 'active', 'waiting', 'dead', 'succeeded', 'failed', 'cancelled'];
const TERMINAL = {succeeded: 1, failed: 1, cancelled: 1};
const PAGE = 25;

let token = sessionStorage.getItem('tq-token') || '';
let timer = null;
let busy = false;
let rates = null;
let ratesAt = 0;
let note = null; /* {text, err}: the last action's outcome, shown once */
let armedN = 0;  /* buttons armed: the view is not redrawn under them */

/* ---------------------------------------------------------------- DOM */

/* el('td', {class: 'num'}, 'text', child...): children that are not nodes
 * become text nodes, so no string is ever parsed as HTML. */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v === undefined || v === null || v === false) continue;
    if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, String(v));
  }
  for (const c of kids.flat()) {
    if (c === undefined || c === null) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  for (const c of kids) e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function table(head, rows, numeric) {
  numeric = numeric || {};
  return el('table', {},
    el('thead', {}, el('tr', {}, head.map((h, i) => el('th', {class: numeric[i] ? 'num' : null}, h)))),
    el('tbody', {}, rows));
}

function ago(t) {
  if (t === null || t === undefined || t === '') return '-';
  const s = Date.now() / 1000 - Number(t);
  if (!isFinite(s)) return '-';
  return dur(Math.abs(s)) + (s >= 0 ? ' ago' : ' from now');
}

function dur(s) {
  if (s === null || s === undefined || !isFinite(s)) return '-';
  if (s < 1) return Math.round(s * 1000) + 'ms';
  if (s < 90) return s.toFixed(1) + 's';
  if (s < 5400) return Math.round(s / 60) + 'm';
  if (s < 172800) return (s / 3600).toFixed(1) + 'h';
  return Math.round(s / 86400) + 'd';
}

function when(t) {
  if (t === null || t === undefined) return '-';
  return new Date(Number(t) * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function link(href, text) { return el('a', {href: href}, text); }
function jobLink(id) { return link('#/job/' + encodeURIComponent(id), id); }
function queueLink(q, state) {
  return link('#/queue/' + encodeURIComponent(q) + (state ? '?state=' + state : ''), q);
}

/* ---------------------------------------------------------------- API */

class HttpError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function call(method, path) {
  const h = {};
  if (token) h['Authorization'] = 'Bearer ' + token;
  if (method === 'POST') h['X-TQ-CSRF'] = CSRF;
  const r = await fetch(path, {method: method, headers: h, cache: 'no-store',
                               credentials: 'same-origin'});
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new HttpError(r.status, (body && body.error) || ('HTTP ' + r.status));
  return body;
}

const get = (path) => call('GET', path);

/* An action button: a first click arms it for 3 s ("sure?"), a second
 * sends the POST; then the view is drawn again. None in --read-only. */
function action(label, path, done) {
  if (READ_ONLY) return null;
  const b = el('button', {'data-action': label, type: 'button'}, label);
  let armed = null;
  b.addEventListener('click', async () => {
    if (!armed) {
      b.classList.add('armed');
      b.textContent = label + '?';
      armedN++;
      armed = setTimeout(() => {
        armed = null;
        armedN--;
        b.classList.remove('armed');
        b.textContent = label;
      }, 3000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    armedN--;
    b.disabled = true;
    try {
      const r = await call('POST', path);
      note = {text: label + ': ' + describe(r), err: false};
      if (done) done(r);
    } catch (e) {
      note = {text: label + ': ' + e.message, err: true};
      if (e.status === 401) return login();
    }
    refresh();
  });
  return b;
}

function describe(r) {
  if (!r || typeof r !== 'object') return 'done';
  const parts = [];
  for (const k in r) parts.push(k + ' ' + (typeof r[k] === 'object' ? JSON.stringify(r[k]) : r[k]));
  return parts.join(', ') || 'done';
}

/* ---------------------------------------------------------------- views */

function countCell(q, state, n) {
  return el('td', {class: 'num', 'data-queue': q, 'data-state': state},
            n ? link('#/queue/' + encodeURIComponent(q) + '?state=' + state, n) : '0');
}

async function viewQueues() {
  const now = Date.now();
  const [qs] = await Promise.all([get('/api/queues'),
    (!rates || now - ratesAt > 5000) ? get('/api/rates').then((r) => { rates = r; ratesAt = now; }) : null]);
  const rows = qs.queues.map((q) => el('tr', {'data-queue': q.queue},
    el('td', {}, queueLink(q.queue)),
    ['pending', 'scheduled', 'active', 'dead'].map((s) => countCell(q.queue, s, q[s])),
    el('td', {class: 'num', 'data-queue': q.queue, 'data-state': 'processed'}, (q.totals || {}).processed || 0),
    el('td', {class: 'num'}, (q.totals || {}).failed || 0),
    el('td', {class: 'num'}, q.oldest_pending_age === null ? '-' : dur(q.oldest_pending_age)),
    el('td', {class: q.paused ? 'paused' : 'muted', 'data-paused': q.paused ? '1' : '0'},
       q.paused ? 'paused' : 'running'),
    el('td', {}, q.paused ? action('resume', '/api/queue/' + encodeURIComponent(q.queue) + '/resume')
                          : action('pause', '/api/queue/' + encodeURIComponent(q.queue) + '/pause'))));
  const out = [el('h1', {}, 'Queues'),
    qs.queues.length ? table(['queue', 'pending', 'scheduled', 'active', 'dead', 'processed',
                              'failed', 'oldest pending', 'state', ''], rows,
                             {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1})
                     : el('p', {class: 'muted'}, 'No queue yet.'),
    el('h2', {}, 'Jobs per second, last hour')];
  out.push(charts(qs.queues.map((q) => q.queue)));
  return out;
}

/* One SVG line chart per queue from /api/rates: {interval, now, queues:
 * {Q: [rate per sample, oldest first]}}. Drawn here; no library. */
function charts(names) {
  const box = el('div', {class: 'charts'});
  if (!rates) return box;
  const W = 320, H = 90, P = 22;
  for (const q of names) {
    const pts = (rates.queues || {})[q] || [];
    const max = Math.max(1, ...pts);
    /* the window: the last hour, or since the dashboard started (at least
     * a minute) when that is shorter */
    const n = Math.min(3600 / rates.interval, Math.max(pts.length, 60 / rates.interval));
    const g = svg('svg', {class: 'chart', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H,
                          'data-queue': q, role: 'img'});
    g.appendChild(svg('title', {}, q + ': jobs per second'));
    g.appendChild(svg('line', {class: 'axis', x1: P, y1: H - P, x2: W - 4, y2: H - P}));
    g.appendChild(svg('line', {class: 'axis', x1: P, y1: 4, x2: P, y2: H - P}));
    g.appendChild(svg('text', {x: 2, y: 12}, fmtRate(max)));
    g.appendChild(svg('text', {x: 2, y: H - P}, '0'));
    g.appendChild(svg('text', {x: P, y: H - 6}, '-' + span(n * rates.interval)));
    g.appendChild(svg('text', {x: W - 30, y: H - 6}, 'now'));
    if (pts.length > 1) {
      const x0 = W - 4 - (pts.length - 1) * (W - 4 - P) / (n - 1);
      const line = pts.map((v, i) => (x0 + i * (W - 4 - P) / (n - 1)).toFixed(1) + ',' +
                           (H - P - (v / max) * (H - P - 6)).toFixed(1)).join(' ');
      g.appendChild(svg('polyline', {class: 'line', points: line}));
    }
    const last = pts.length ? pts[pts.length - 1] : 0;
    box.appendChild(el('figure', {}, g, el('figcaption', {}, q + ': ' + fmtRate(last) + '/s now')));
  }
  return box;
}

/* An axis's span, whole units: 45s, 1m, 12m, 1h. */
function span(s) {
  if (s < 60) return Math.round(s) + 's';
  if (s < 3600) return Math.round(s / 60) + 'm';
  return Math.round(s / 3600) + 'h';
}

function fmtRate(v) { return v >= 100 ? String(Math.round(v)) : (Math.round(v * 10) / 10).toString(); }

async function viewQueue(q, params) {
  const state = STATES.indexOf(params.get('state')) >= 0 ? params.get('state') : 'pending';
  const offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  const base = '/api/queue/' + encodeURIComponent(q);
  const [counts, jobs] = await Promise.all([get(base),
    get(base + '/jobs?state=' + state + '&limit=' + PAGE + '&offset=' + offset)]);
  const tabs = el('div', {class: 'tabs'}, STATES.map((s) =>
    el('a', {href: '#/queue/' + encodeURIComponent(q) + '?state=' + s, class: s === state ? 'on' : null,
             'data-state': s}, s + ' (' + (counts[s] || 0) + ')')));
  const rows = jobs.jobs.map((j) => el('tr', {'data-id': j.id},
    el('td', {}, jobLink(j.id)), el('td', {}, j.task), el('td', {}, j.state),
    el('td', {class: 'num'}, j.attempt), el('td', {}, ago(j.created_at)),
    el('td', {}, ago(j.started_at)), el('td', {}, ago(j.finished_at)),
    el('td', {class: 'bad'}, j.error || '')));
  const pageUrl = (o) => '#/queue/' + encodeURIComponent(q) + '?state=' + state + '&offset=' + o;
  const pager = el('div', {class: 'pager'},
    offset > 0 ? link(pageUrl(Math.max(0, offset - PAGE)), '« newer') : null,
    el('span', {class: 'muted'}, 'jobs ' + (jobs.jobs.length ? offset + 1 : 0) + '–' + (offset + jobs.jobs.length)),
    jobs.more ? link(pageUrl(offset + PAGE), 'older »') : null);
  return [el('h1', {}, 'Queue ', q, ' ',
             el('span', {class: counts.paused ? 'paused' : 'muted'}, counts.paused ? '(paused)' : ''), ' ',
             counts.paused ? action('resume', base + '/resume') : action('pause', base + '/pause')),
          tabs,
          jobs.jobs.length ? table(['id', 'task', 'state', 'attempt', 'created', 'started', 'finished', 'error'], rows, {3: 1})
                           : el('p', {class: 'muted'}, 'No ' + state + ' job.'),
          pager];
}

const SHOWN = ['id', 'queue', 'task', 'state', 'attempt', 'args', 'result', 'error', 'progress',
               'created_at', 'started_at', 'finished_at', 'worker', 'attempts_log'];

/* The job's life as rows [event, at (Unix s), detail, class]: created; each
 * attempt of its attempts log (those that did not end it: started on a
 * worker, failed / lost with its error, retry at); the latest attempt from
 * the record itself; its end. Values come from the API and go into text
 * nodes only. */
function timeline(j) {
  const ev = [['created', j.created_at, j.schedule ? 'by schedule ' + j.schedule : '', null]];
  const log = Array.isArray(j.attempts_log) ?
    j.attempts_log.filter((e) => e && typeof e === 'object' && !Array.isArray(e)) : [];
  const on = (w) => (w ? 'on ' + w : '');
  const said = (e) => (typeof e === 'string' && e !== '' ? '"' + e + '"' : '');
  let logged = false;
  for (const e of log) {
    const n = Number(e.attempt) || 0;
    if (n === j.attempt) logged = true;
    if (e.started_at) ev.push(['attempt ' + n, e.started_at, on(e.worker), null]);
    ev.push(['attempt ' + n + ' ' + String(e.outcome || 'ended'), e.ended_at, said(e.error), 'bad']);
    if (e.retry_at) ev.push(['retry', e.retry_at, 'scheduled', 'muted']);
  }
  if (j.attempt > 0 && j.started_at && !logged)
    ev.push(['attempt ' + j.attempt, j.started_at, on(j.worker), null]);
  if (j.finished_at && TERMINAL[j.state])
    ev.push([j.state, j.finished_at, j.state === 'succeeded' ? '' : said(j.error),
             j.state === 'succeeded' ? 'ok' : 'bad']);
  else if (j.state !== 'active')
    ev.push(['now ' + j.state, null, '', 'muted']);
  return ev;
}

async function viewJob(id) {
  const j = await get('/api/job/' + encodeURIComponent(id));
  const terminal = TERMINAL[j.state];
  const acts = el('p', {},
    !terminal ? action('cancel', '/api/job/' + encodeURIComponent(id) + '/cancel') : null, ' ',
    j.state === 'failed' ? action('retry', '/api/job/' + encodeURIComponent(id) + '/retry') : null, ' ',
    action('delete', '/api/job/' + encodeURIComponent(id) + '/delete', (r) => {
      if (r && r.deleted) location.hash = '#/queue/' + encodeURIComponent(j.queue);
    }));
  const head = table(['field', 'value'], [
    ['id', j.id], ['queue', queueLink(j.queue)], ['task', j.task],
    ['state', el('span', {class: j.state === 'failed' ? 'bad' : j.state === 'succeeded' ? 'ok' : null,
                          id: 'job-state'}, j.state)],
    ['attempt', j.attempt + ' (retries ' + (j.max_retries || 0) + ', lost deliveries allowed ' + (j.max_lost || 0) + ')'],
    ['worker', j.worker || '-']].map((r) => el('tr', {}, el('th', {}, r[0]), el('td', {}, r[1]))));
  let prev = null;
  const tl = timeline(j).map((r) => {
    const t = Number(r[1]) || null;
    /* events are in the order they happened: a delta below 0 is rounding */
    const rel = t === null ? '' : prev === null ? ago(t) : '+' + dur(Math.max(0, t - prev));
    if (t !== null) prev = t;
    return el('tr', {'data-event': r[0]}, el('td', {class: r[3]}, r[0]), el('td', {}, t === null ? '' : when(t)),
              el('td', {class: 'muted'}, rel), el('td', {class: r[3] === 'bad' ? 'bad' : null}, r[2]));
  });
  const tlt = table(['', 'at', '', ''], tl);
  tlt.id = 'job-timeline';
  const out = [el('h1', {}, 'Job ', j.id), acts, head, el('h2', {}, 'Timeline'), tlt];
  if ('progress' in j) out.push(el('h2', {}, 'Progress'), pretty(j.progress, 'job-progress'));
  out.push(el('h2', {}, 'Args'), pretty(j.args, 'job-args'));
  if ('result' in j) out.push(el('h2', {}, 'Result'), pretty(j.result, 'job-result'));
  if (j.error) out.push(el('h2', {}, 'Error'), el('pre', {class: 'bad', id: 'job-error'}, j.error));
  for (const k of ['stderr', 'output', 'logs']) {
    if (typeof j[k] === 'string') out.push(el('h2', {}, 'Output (tail)'), el('pre', {id: 'job-output'}, j[k]));
  }
  const rest = Object.keys(j).filter((k) => SHOWN.indexOf(k) < 0 && ['stderr', 'output', 'logs'].indexOf(k) < 0);
  out.push(el('h2', {}, 'Record'), table(['field', 'value'], rest.map((k) => el('tr', {},
    el('th', {}, k), el('td', {}, typeof j[k] === 'object' ? JSON.stringify(j[k]) : String(j[k]))))));
  return out;
}

function pretty(v, id) {
  return el('pre', {id: id}, typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, null, 2));
}

async function viewWorkers() {
  const ws = await get('/api/workers');
  const rows = ws.map((w) => el('tr', {'data-id': w.id},
    el('td', {}, w.id), el('td', {}, w.host), el('td', {class: 'num'}, w.pid),
    el('td', {}, (w.queues || []).join(', ')),
    el('td', {class: 'num'}, w.busy + ' / ' + w.concurrency),
    el('td', {}, dur(w.uptime)), el('td', {class: w.stale ? 'bad' : 'ok'}, dur(w.heartbeat_age) + ' ago'),
    el('td', {}, w.version || '-')));
  return [el('h1', {}, 'Workers (' + ws.length + ')'),
          ws.length ? table(['id', 'host', 'pid', 'queues', 'busy', 'uptime', 'heartbeat', 'version'], rows, {2: 1, 4: 1})
                    : el('p', {class: 'muted'}, 'No live worker.')];
}

async function viewDlq() {
  const d = await get('/api/dlq');
  const rows = d.map((j) => el('tr', {'data-id': j.id},
    el('td', {}, jobLink(j.id)), el('td', {}, queueLink(j.queue)), el('td', {}, j.task === null ? '(expired)' : j.task),
    el('td', {class: 'num'}, j.attempt), el('td', {}, ago(j.finished_at)),
    el('td', {class: 'bad'}, j.error || ''),
    el('td', {}, action('retry', '/api/job/' + encodeURIComponent(j.id) + '/retry'))));
  return [el('h1', {}, 'Dead letters (' + d.length + ') ',
             d.length ? action('retry all', '/api/dlq/retry-all') : null, ' ',
             d.length ? action('purge', '/api/dlq/purge') : null),
          d.length ? table(['id', 'queue', 'task', 'attempts', 'failed', 'error', ''], rows, {3: 1})
                   : el('p', {class: 'muted'}, 'No dead letter.')];
}

async function viewSchedules() {
  const s = await get('/api/schedules');
  const rows = s.map((x) => {
    const p = '/api/schedule/' + encodeURIComponent(x.name);
    return el('tr', {'data-name': x.name},
      el('td', {}, x.name), el('td', {}, x.spec + (x.tz && x.tz !== 'UTC' ? ' (' + x.tz + ')' : '')),
      el('td', {}, x.task), el('td', {}, queueLink(x.queue || 'default')),
      el('td', {}, x.paused ? el('span', {class: 'paused'}, 'paused') : ago(x.next_run)),
      el('td', {}, ago(x.last_run)), el('td', {}, x.last_job ? jobLink(x.last_job) : '-'),
      el('td', {}, x.last_state || '-'),
      el('td', {}, x.paused ? action('resume', p + '/resume') : action('pause', p + '/pause'), ' ',
         action('run', p + '/run')));
  });
  return [el('h1', {}, 'Schedules (' + s.length + ')'),
          s.length ? table(['name', 'when', 'task', 'queue', 'next', 'last', 'last job', 'its state', ''], rows)
                   : el('p', {class: 'muted'}, 'No schedule.')];
}

async function viewLimits() {
  const [sems, rls] = await Promise.all([get('/api/semaphores'), get('/api/ratelimits')]);
  const srows = sems.map((s) => el('tr', {},
    el('td', {}, s.name), el('td', {class: 'num'}, (s.holders || []).length + ' / ' + s.capacity),
    el('td', {class: 'num'}, s.waiting),
    el('td', {}, (s.holders || []).map((h) => h.job)
      .reduce((a, id) => a.concat(a.length ? [', ', jobLink(id)] : [jobLink(id)]), []))));
  const rrows = rls.map((r) => el('tr', {}, el('td', {}, r.name), el('td', {}, r.rate),
    el('td', {class: 'num'}, r.burst)));
  return [el('h1', {}, 'Semaphores'),
          sems.length ? table(['name', 'held', 'waiting', 'holders'], srows, {1: 1, 2: 1})
                      : el('p', {class: 'muted'}, 'No semaphore.'),
          el('h1', {}, 'Rate limits'),
          rls.length ? table(['name', 'rate', 'burst'], rrows, {2: 1})
                     : el('p', {class: 'muted'}, 'No rate limit.')];
}

/* ---------------------------------------------------------------- routing */

function route() {
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, query] = h.split('?');
  const params = new URLSearchParams(query || '');
  const seg = path.split('/').filter((s) => s).map(decodeURIComponent);
  if (seg[0] === 'queue' && seg[1]) return () => viewQueue(seg[1], params);
  if (seg[0] === 'job' && seg[1]) return () => viewJob(seg[1]);
  if (seg[0] === 'workers') return viewWorkers;
  if (seg[0] === 'dlq') return viewDlq;
  if (seg[0] === 'schedules') return viewSchedules;
  if (seg[0] === 'limits') return viewLimits;
  return viewQueues;
}

function login(msg) {
  stop();
  const input = el('input', {type: 'password', id: 'token', autocomplete: 'current-password'});
  const f = el('form', {class: 'login'}, el('p', {}, msg || 'This dashboard needs its token.'),
               input, el('button', {type: 'submit'}, 'sign in'));
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    token = input.value;
    sessionStorage.setItem('tq-token', token);
    start();
  });
  document.getElementById('main').replaceChildren(f);
  input.focus();
}

async function refresh() {
  if (busy || armedN > 0) return;
  busy = true;
  const st = document.getElementById('status');
  const hash = location.hash;
  try {
    const nodes = await route()();
    /* a button armed while the API answered: not redrawn under it */
    if (hash !== location.hash || armedN > 0) return;
    const main = document.getElementById('main');
    const y = window.scrollY;
    const kids = [];
    if (note) kids.push(el('div', {class: note.err ? 'msg err' : 'msg', id: 'note'}, note.text));
    main.replaceChildren(...kids.concat(nodes.flat()));
    window.scrollTo(0, y);
    st.textContent = 'live · ' + new Date().toLocaleTimeString() + (READ_ONLY ? ' · read-only' : '');
    st.className = 'status';
  } catch (e) {
    if (e.status === 401) {
      busy = false;
      return login(token ? 'That token was refused.' : null);
    }
    st.textContent = e.message;
    st.className = 'status err';
    if (e.status === 404) document.getElementById('main').replaceChildren(el('p', {class: 'bad'}, e.message));
  } finally {
    busy = false;
  }
}

function stop() { if (timer) clearInterval(timer); timer = null; }

function start() {
  stop();
  refresh();
  timer = setInterval(() => { if (document.visibilityState === 'visible') refresh(); }, 1000);
}

window.addEventListener('hashchange', () => { note = null; refresh(); });
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refresh(); });
start();
