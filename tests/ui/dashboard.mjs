// Drives the built-in dashboard in headless Debian chromium.
//   node dashboard.mjs TOOLS_DIR BASE_URL SCREENSHOT_PREFIX EXPECT_JSON
// EXPECT_JSON (ui_dashboard.py): {"services": {...name: windows}, "anomalies": N, "critical": N,
//   "html_evidence": "...", "unverified": [severities marked "unverified evidence"], "critical_window": id,
//   "big_window": id, "big_lines": N, "small_window": id, "same_start": [api id, db id],
//   "notifications": N, "notification_statuses": [...], "suppressions": N, "critical_suppressions": N,
//   "alert_link": the link in the alert file's notification, "alert_window": its window's id,
//   "incidents": N, "incident": an incident's id, "incident_root": its root service,
//   "incident_timeline": its findings' window ids,
//   "bands": {"base": a second server's URL, "incident": its cascade incident, "incidents": all of its incidents,
//             "services": its service names, "bare": a service of the cascade whose windows were deleted,
//             "write_token": the token its POST /incidents/{id}/feedback needs}}
// Prints "feedback-sent <anomaly id>" and "incident-feedback-sent <incident id>" for ui_dashboard.py to check in the
// store.
// Screenshots: PREFIX-overview.png, -window.png, -incident.png, -suppressions.png, -notifications.png, -bands.png,
// each checked here
// (decoded in the browser: not blank, and the colours the view must show). Prints one line per check;
// exits 1 when any failed.
import {createRequire} from 'node:module';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

const [tools, base, prefix, expectJson] = process.argv.slice(2);
const expect = JSON.parse(expectJson);
const require = createRequire(join(tools, 'package.json'));
const {chromium} = require('playwright-core');

const problems = [];
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) problems.push(what);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],   // playwright gives each launch a fresh profile
});

// A screenshot decoded in a blank page of its own: how many distinct colours a grid of samples has, what
// share of them is not the background, and whether a given colour is there.
async function pixels(file, rgb) {
  const p = await browser.newPage();
  try {
    const url = 'data:image/png;base64,' + readFileSync(file).toString('base64');
    return await p.evaluate(async ([src, want]) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      const colours = new Set();
      let ink = 0, n = 0, found = 0;
      for (let i = 0; i < d.length; i += 4 * 7) {   // every 7th pixel
        const [r, gg, b] = [d[i], d[i + 1], d[i + 2]];
        colours.add((r << 16) | (gg << 8) | b);
        n++;
        if (r + gg + b < 3 * 235) ink++;
        if (want && Math.abs(r - want[0]) < 6 && Math.abs(gg - want[1]) < 6 && Math.abs(b - want[2]) < 6) found++;
      }
      return {width: c.width, height: c.height, colours: colours.size, ink: ink / n, found};
    }, [url, rgb || null]);
  } finally {
    await p.close();
  }
}

async function shot(page, name, what, rgb) {
  const file = prefix + '-' + name + '.png';
  await page.screenshot({path: file, fullPage: true});
  const px = await pixels(file, rgb);
  console.log('screenshot ' + file + ' ' + JSON.stringify(px));
  check(px.width === 1280, `screenshot ${name}: nothing wider than the window (${px.width} px)`);
  check(px.height >= 300 && px.colours >= 20 && px.ink > 0.02,
    `screenshot ${name} is not blank (${px.colours} colours, ${(px.ink * 100).toFixed(1)}% ink)`);
  if (rgb) check(px.found > 20, `screenshot ${name} shows ${what} (${px.found} samples)`);
}

try {
  const page = await browser.newPage({viewport: {width: 1280, height: 900}});
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const external = [];
  const ours = [base + '/', expect.bands.base + '/'];   // the seeded server and the cascade's
  page.on('request', (r) => { if (!ours.some((b) => r.url().startsWith(b))) external.push(r.url()); });
  // body.dataset.loaded counts the page's finished refreshes (the newest ones only), dataset.busy those in
  // flight; body.dataset.window / .incident: the window or incident whose view is loaded.
  const settled = (before) => page.waitForFunction((b) => Number(document.body.dataset.loaded || 0) > b &&
    document.body.dataset.busy === '0', before, {timeout: 15000});
  const fresh = () => settled(0);   // after a navigation: its first refresh done
  const act = async (fn) => {       // an action that refreshes: its refresh done, none other pending
    const before = Number(await page.evaluate(() => document.body.dataset.loaded || 0));
    await fn();
    await settled(before);
  };
  const windowShown = (id) => page.waitForFunction((w) => document.body.dataset.window === String(w), id,
    {timeout: 15000});
  const box = async (sel) => page.locator(sel).first().boundingBox();

  // ---- the overview --------------------------------------------------------------------------------
  await page.goto(base + '/');
  await fresh();
  for (const [svc, n] of Object.entries(expect.services)) {
    const cells = await page.locator(`.timeline[data-service="${svc}"] .cell`).count();
    check(cells === n, `timeline of ${svc} shows ${n} windows (saw ${cells})`);
  }
  const healths = await page.locator('.cell').evaluateAll((cs) => cs.map((c) => c.dataset.health));
  check(healths.some((h) => h === 'critical') && healths.some((h) => h === 'normal' || h === 'degraded'),
    'windows are coloured by health: ' + [...new Set(healths)].join(','));
  const bg = await page.locator('.cell.h-critical').first().evaluate((c) => getComputedStyle(c).backgroundColor);
  check(bg === 'rgb(209, 56, 61)', 'a critical window is red (' + bg + ')');

  // one time axis: ticks in time order, left to right, and windows that start together line up across rows
  const marks = await page.locator('.axis .tick').evaluateAll((ts) => ts.map((t) => ({
    ts: t.dataset.ts, text: t.textContent, x: t.getBoundingClientRect().left})));
  check(marks.length >= 3 && marks.every((m) => m.text.trim()), 'the axis has labelled ticks: ' +
    marks.map((m) => m.text).join(' | '));
  check(marks.every((m, i) => !i || (m.ts > marks[i - 1].ts && m.x > marks[i - 1].x)), 'ticks in time order, left to right');
  check(await page.locator('.axis').count() === 1, 'one axis for all the rows');
  const [apiWin, dbWin] = expect.same_start;
  const a = await box(`.timeline[data-service="api"] .cell[data-window="${apiWin}"]`);
  const d = await box(`.timeline[data-service="db"] .cell[data-window="${dbWin}"]`);
  check(a && d && Math.abs(a.x - d.x) < 1 && Math.abs(a.width - d.width) < 1,
    `windows of api and db that start together share their place on the axis (${a && a.x} vs ${d && d.x})`);
  const apiStart = await page.locator(`.cell[data-window="${apiWin}"]`).getAttribute('data-start');
  const tick = marks.find((m) => m.ts === new Date(Date.parse(apiStart)).toISOString());
  check(!tick || Math.abs(tick.x - a.x) < 2, 'a tick at a window\'s start sits at its left edge');
  // line volume: the window with the most lines is the tallest bar
  const big = await box(`.cell[data-window="${expect.big_window}"]`);
  const small = await box(`.cell[data-window="${expect.small_window}"]`);
  check(big && small && big.height > small.height * 1.5, `bar height follows lines (${big.height} vs ${small.height})`);
  check(await page.locator(`.cell[data-window="${expect.big_window}"]`).getAttribute('data-lines') ===
    String(expect.big_lines), 'a bar carries its line count');

  check(await page.locator('.anomaly').count() === expect.anomalies, `${expect.anomalies} anomalies listed`);
  const evidence = await page.locator('.anomaly pre.evidence').allTextContents();
  check(evidence.some((t) => t.includes(expect.html_evidence)), 'HTML in evidence is shown as text');
  check(await page.locator('#anomalies img, #anomalies b').count() === 0, 'no element was made from log text');
  const unverified = await page.locator('.anomaly').evaluateAll((as) => as.map((x) =>
    x.querySelector('.head .unverified') ? x.dataset.severity : null).filter((s) => s));
  check(unverified.sort().join(',') === expect.unverified.sort().join(','),
    'unverified evidence marked on: ' + unverified.join(','));
  await shot(page, 'overview', 'a red (critical) window', [209, 56, 61]);

  // ---- a window's view: its lines, paged, and its digest --------------------------------------------
  await page.locator(`.cell[data-window="${expect.big_window}"]`).click();
  await windowShown(expect.big_window);
  check(new URL(page.url()).hash === '#window-' + expect.big_window, 'opening a window puts #window-N in the URL');
  let rows = await page.locator('#detail-lines tbody tr').count();
  check(rows === 100, `the window's first page of lines (${rows} of ${expect.big_lines})`);
  const times = await page.locator('#detail-lines tbody td.ts').allTextContents();
  check(times.every((t, i) => !i || t >= times[i - 1]), 'lines in time order');
  await page.locator('#lines-more').click();
  await page.waitForFunction((n) => document.querySelectorAll('#detail-lines tbody tr').length === n,
    expect.big_lines, {timeout: 10000}).catch(() => {});
  rows = await page.locator('#detail-lines tbody tr').count();
  check(rows === expect.big_lines && await page.locator('#lines-more').isHidden(),
    `"More lines" pages to the end (${rows})`);
  const ids = await page.locator('#detail-lines tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.line));
  check(new Set(ids).size === ids.length, 'no line shown twice across pages');
  const lineTexts = await page.locator('#detail-lines tbody td.msg').allTextContents();
  check(lineTexts.some((t) => t.includes(expect.html_evidence)), 'a line with HTML in it is shown as text');
  check(await page.locator('#detail-lines img, #detail-lines b').count() === 0, 'no element was made from a line');
  check(lineTexts.some((t) => t.includes('"ua"')), 'a line\'s attributes are shown');

  // a notification's link, /windows/{id}, opened in the browser: the page, on that window
  await page.goto(base + '/windows/' + expect.critical_window);
  await windowShown(expect.critical_window);
  await fresh();
  check(new URL(page.url()).hash === '#window-' + expect.critical_window, '/windows/N becomes /#window-N');
  const title = await page.locator('#detail-title').textContent();
  check(title.startsWith('#' + expect.critical_window + ' api'), 'the deep link opened its window: ' + title);
  const digest = await page.locator('#detail-digest').textContent();
  check(digest.length > 20 && !digest.startsWith('(no digest'), 'the window view shows its digest');
  check(await page.locator('#detail-lines tbody tr').count() === 5, 'and its lines');
  check(await page.locator(`.cell.selected[data-window="${expect.critical_window}"]`).count() === 1,
    'the open window is marked on the timeline');
  await shot(page, 'window', 'the critical window and its lines', [209, 56, 61]);
  // the link in a notification that went out (the alert file's line), followed
  check(expect.alert_link === base + '/windows/' + expect.alert_window, 'the notification links ' + expect.alert_link);
  await page.goto(expect.alert_link);
  await windowShown(expect.alert_window);
  check((await page.locator('#detail-title').textContent()).startsWith('#' + expect.alert_window + ' db'),
    'the notification\'s link opens its window in the page');
  // #window-N honoured on load
  await page.goto(base + '/#window-' + expect.small_window);
  await windowShown(expect.small_window);
  check(await page.locator('#detail-section').isVisible(), '#window-N opens that window on load');
  await page.locator('#detail-close').click();
  check(new URL(page.url()).hash === '' && await page.locator('#detail-section').isHidden(), 'closing it clears #window-N');

  // ---- filters live in the URL -------------------------------------------------------------------------
  await page.goto(base + '/');
  await fresh();
  await act(() => page.selectOption('#f-severity', 'critical'));
  check(new URL(page.url()).searchParams.get('severity') === 'critical', 'the severity filter is in the URL');
  let sevs = await page.locator('.anomaly').evaluateAll((as) => as.map((x) => x.dataset.severity));
  check(sevs.length === expect.critical && sevs.every((s) => s === 'critical'), 'severity filter: ' + sevs.join(','));
  await page.reload();
  await fresh();
  sevs = await page.locator('.anomaly').evaluateAll((as) => as.map((x) => x.dataset.severity));
  check(await page.locator('#f-severity').inputValue() === 'critical' && sevs.length === expect.critical,
    'a reload keeps the severity filter');
  const one = Object.keys(expect.services)[1];
  await page.goto(base + '/?service=' + one);
  await fresh();
  const shown = await page.locator('.timeline[data-service]').evaluateAll((ts) => ts.map((t) => t.dataset.service));
  check(shown.length === 1 && shown[0] === one && await page.locator('#f-service').inputValue() === one,
    'a shared link with ?service= shows one timeline: ' + shown.join(','));
  const svcs = await page.locator('.anomaly .service').allTextContents();
  check(svcs.every((s) => s === one), 'the service filter applies to anomalies');
  await act(() => page.selectOption('#f-service', ''));
  await act(() => page.selectOption('#f-range', '3600'));   // the seeded windows are older than an hour
  check(new URL(page.url()).searchParams.get('range') === '3600', 'the time filter is in the URL');
  check(await page.locator('.anomaly').count() === 0 && await page.locator('.cell').count() === 0,
    'time filter hides older windows and anomalies');
  await act(() => page.selectOption('#f-range', ''));
  check(new URL(page.url()).search === '', 'filters back to all: a clean URL');

  // feedback
  const first = page.locator('.anomaly').first();
  const id = await first.getAttribute('data-id');
  await first.locator('button.fp').click();
  await first.locator('.state', {hasText: 'marked false positive'}).waitFor({timeout: 10000});
  console.log('feedback-sent ' + id);
  check(true, 'false positive button answers');

  // ---- incidents ---------------------------------------------------------------------------------------------
  await act(() => page.locator('#views a[data-view="incidents"]').click());
  const incs = await page.locator('#incidents tbody tr[data-id]').count();
  check(incs === expect.incidents, `${expect.incidents} incidents listed (saw ${incs})`);
  await page.locator(`#incidents tbody tr[data-id="${expect.incident}"] a`).click();
  await page.waitForFunction((i) => document.body.dataset.incident === String(i), expect.incident, {timeout: 15000});
  check(new URL(page.url()).hash === '#incident-' + expect.incident, 'opening an incident puts #incident-N in the URL');
  const tl = await page.locator('#incident-timeline tbody tr').evaluateAll((rs) => rs.map((r) => Number(r.dataset.window)));
  check(tl.join(',') === expect.incident_timeline.join(','), 'the incident\'s timeline: windows ' + tl.join(','));
  check((await page.locator('#incident-title').textContent()).includes('began at ' + expect.incident_root),
    'the incident names its root service');
  await shot(page, 'incident');
  // an incident's link opened in the browser, and back to its list
  await page.goto(base + '/incidents/' + expect.incident);
  await page.waitForFunction((i) => document.body.dataset.incident === String(i), expect.incident, {timeout: 15000});
  check(new URL(page.url()).hash === '#incident-' + expect.incident && await page.locator('#view-incidents').isVisible(),
    '/incidents/N opens the incident in the page');
  await fresh();
  // a finding of the timeline opens its window
  await page.locator('#incident-timeline tbody tr a').first().click();
  await windowShown(expect.incident_timeline[0]);
  check(await page.locator('#view-overview').isVisible() && new URL(page.url()).hash === '#window-' +
    expect.incident_timeline[0], 'a finding of the incident links to its window');

  // ---- suppressions and notifications -------------------------------------------------------------------
  await act(() => page.locator('#views a[data-view="suppressions"]').click());
  check(new URL(page.url()).searchParams.get('view') === 'suppressions', 'the view is in the URL');
  const supp = await page.locator('#suppressions tbody tr[data-service]').count();
  check(supp === expect.suppressions && supp > 0, `${expect.suppressions} open suppressions listed (saw ${supp})`);
  await act(() => page.selectOption('#f-severity', 'critical'));
  const crit = await page.locator('#suppressions tbody tr[data-service] td:nth-child(3)').allTextContents();
  check(crit.length === expect.critical_suppressions && crit.every((s) => s === 'critical'),
    'the severity filter applies to suppressions: ' + crit.join(','));
  await act(() => page.selectOption('#f-severity', ''));
  check(await page.locator('#view-overview').isHidden(), 'one view at a time');
  await shot(page, 'suppressions');

  await act(() => page.locator('#views a[data-view="notifications"]').click());
  const notes = await page.locator('#notifications tbody tr[data-status]').evaluateAll((rs) =>
    rs.map((r) => r.dataset.status));
  check(notes.length === expect.notifications && [...new Set(notes)].sort().join(',') ===
    expect.notification_statuses.join(','), `${expect.notifications} notifications listed: ${notes.join(',')}`);
  check(/pending \d+ · sent \d+/.test(await page.locator('#notif-counters').textContent()), 'delivery counters shown');
  await shot(page, 'notifications');
  const pending = expect.notification_statuses.find((s) => s !== 'sent') || 'sent';
  await act(() => page.selectOption('#f-nstatus', pending));
  const only = await page.locator('#notifications tbody tr[data-status]').evaluateAll((rs) =>
    rs.map((r) => r.dataset.status));
  check(only.length > 0 && only.every((s) => s === pending), `the status filter shows ${pending} only`);
  await page.reload();
  await fresh();
  check(await page.locator('#view-notifications').isVisible() && await page.locator('#f-nstatus').inputValue() === pending,
    'a reload keeps the view and its filter');
  // a notification's window link opens the window's view
  const link = page.locator('#notifications tbody tr[data-status] a').first();
  const target = (await link.getAttribute('href')).replace('#window-', '');
  await link.click();
  await windowShown(target);
  check(await page.locator('#view-overview').isVisible() && await page.locator('#detail-section').isVisible(),
    'a notification links to its window');
  await page.goBack();
  await page.waitForFunction(() => !document.getElementById('view-notifications').hidden, null, {timeout: 10000})
    .catch(() => {});
  check(await page.locator('#view-notifications').isVisible(), 'Back returns to the notifications');

  // the overview's rows, 50 at a time: the page after is GET /services' next cursor
  const names = Array.from({length: 50}, (_, i) => 'svc-' + String(i).padStart(2, '0'));
  const sent = await page.request.post(base + '/ingest', {headers: {'Content-Type': 'application/x-ndjson'},
    data: names.map((n) => JSON.stringify({ts: 1795514400, service: n, message: 'hello'})).join('\n') + '\n'});
  check(sent.status() === 202, 'fifty more services ingested');
  await page.goto(base + '/');
  await fresh();
  const rowsShown = await page.locator('.timeline[data-service]').evaluateAll((ts) => ts.map((t) => t.dataset.service));
  check(rowsShown.length === 50 && rowsShown[0] === 'api' && rowsShown[49] === 'svc-47',
    `the first page: 50 service rows of 52 (${rowsShown.length}: ${rowsShown[0]} .. ${rowsShown[rowsShown.length - 1]})`);
  const note = () => page.locator('#timelines-more').textContent();
  check((await note()).includes('Services 1–50 of 52') && await page.locator('#rows-next').isVisible() &&
    await page.locator('#rows-first').isHidden(), 'a note names the page of rows, and Next services leads on: ' +
    await note());
  const rowsNow = () => page.locator('.timeline[data-service]').evaluateAll((ts) => ts.map((t) => t.dataset.service));
  await act(() => page.locator('#rows-next').click());
  const cursor = new URL(page.url()).searchParams.get('rows');
  check((await rowsNow()).join(',') === 'svc-48,svc-49' && (await note()).includes('Services 51–52 of 52'),
    `Next services shows the last two rows (${(await rowsNow()).join(',')}; ${await note()})`);
  check(cursor && await page.locator('#rows-next').isHidden() && await page.locator('#rows-first').isVisible(),
    'the page of rows is in the URL (rows=' + cursor + '), and it is the last');
  await page.reload();
  await fresh();
  check((await rowsNow()).join(',') === 'svc-48,svc-49', 'a reload keeps the page of rows');
  check(await page.locator('.axis .tick').count() > 0 && await page.locator('.timeline[data-service] .cell').count() === 2,
    'the page has its own axis and its rows\' windows');
  await act(() => page.locator('#rows-first').click());
  check((await rowsNow()).length === 50 && !new URL(page.url()).searchParams.get('rows'),
    'First services goes back to the first page');
  await act(() => page.goBack());
  check((await rowsNow()).join(',') === 'svc-48,svc-49', 'Back returns to the second page');

  // ---- incidents as bands on the overview (the second server: a generated cascade) ----------------------
  const cas = expect.bands.incident;
  await page.goto(expect.bands.base + '/');
  await fresh();
  const rowNames = await page.locator('.timeline[data-service]').evaluateAll((ts) => ts.map((t) => t.dataset.service));
  check(rowNames.join(',') === expect.bands.services.join(','), 'the cascade\'s services have rows: ' + rowNames);
  // where a time falls on the axis: the line through the first and last tick (their left edge is their time)
  const ax = await page.locator('.axis .tick:not(.end)').evaluateAll((ts) => ts.map((t) => ({
    t: Date.parse(t.dataset.ts), x: t.getBoundingClientRect().left})));
  const [p0, p1] = [ax[0], ax[ax.length - 1]];
  const xAt = (t) => p0.x + (t - p0.t) * (p1.x - p0.x) / (p1.t - p0.t);
  check(ax.length >= 2 && p1.x > p0.x, 'the cascade\'s axis has ticks to measure against');
  for (const inc of expect.bands.incidents) {
    const bands = await page.locator(`.band[data-incident="${inc.id}"]`).evaluateAll((bs) => bs.map((b) => {
      const track = b.closest('.track'), r = b.getBoundingClientRect(), tr = track.getBoundingClientRect();
      return {service: b.closest('.timeline').dataset.service, left: r.left, right: r.right, top: r.top,
        bottom: r.bottom, trackTop: tr.top, trackBottom: tr.top + track.clientHeight, title: b.title,   // above its rule
        bg: getComputedStyle(b).backgroundColor};
    }));
    const on = bands.map((b) => b.service).sort().join(',');
    check(on === inc.services.slice().sort().join(','),
      `incident #${inc.id}'s band lies on exactly the rows of ${inc.services.join(', ')} (saw ${on})`);
    const x0 = xAt(Date.parse(inc.start)), x1 = xAt(Date.parse(inc.end));
    check(bands.length && bands.every((b) => Math.abs(b.left - x0) < 3 && Math.abs(b.right - Math.max(x1, x0 + 4)) < 3),
      `incident #${inc.id}'s band spans ${inc.start} .. ${inc.end} on the axis (${x0.toFixed(1)} .. ${x1.toFixed(1)}; ` +
      `saw ${bands.map((b) => b.left.toFixed(1) + ' .. ' + b.right.toFixed(1)).join(', ')})`);
    check(bands.every((b) => Math.abs(b.top - b.trackTop) < 1 && Math.abs(b.bottom - b.trackBottom) < 1),
      `incident #${inc.id}'s band covers its rows top to bottom (${bands.map((b) => b.top + ".." + b.bottom + " in " + b.trackTop + ".." + b.trackBottom)})`);
    check(bands.every((b) => b.title.includes('began at ' + inc.root_service)),
      `incident #${inc.id}'s band names its root (${inc.root_service}) in its title`);
  }
  // the row of a service without windows still shows the bands of the incidents it is in
  const bare = expect.bands.bare;
  const bareWant = expect.bands.incidents.filter((i) => i.services.includes(bare)).map((i) => String(i.id)).sort();
  const bareBands = await page.locator(`.timeline[data-service="${bare}"] .band`).evaluateAll((bs) =>
    bs.map((b) => b.dataset.incident).sort());
  check(await page.locator(`.timeline[data-service="${bare}"] .cell`).count() === 0 && bareWant.length > 0 &&
    bareBands.join(',') === bareWant.join(','),
    `${bare}'s row has no window and the bands of its incidents (${bareWant.join(',')}; saw ${bareBands.join(',')})`);
  const casBg = await page.locator(`.band[data-incident="${cas.id}"]`).first().evaluate((b) =>
    getComputedStyle(b).backgroundColor);
  check(cas.severity === 'high' && /^rgba\(232, 103, 58, 0\.\d+\)$/.test(casBg),
    `the cascade's band is translucent in its severity's colour (${cas.severity}: ${casBg})`);
  await shot(page, 'bands', 'the cascade\'s (high) band', [232, 103, 58]);
  // a band lets the windows under it take their clicks, and opens its incident from its grip
  const inside = await page.locator('.timeline[data-service="db"] .cell').evaluateAll((cs, [s, e]) => cs.map((c) =>
    c.dataset.start).find((t) => Date.parse(t) >= s && Date.parse(t) + 60000 <= e), [Date.parse(cas.start), Date.parse(cas.end)]);
  const takes = inside && await page.locator(`.timeline[data-service="db"] .cell[data-start="${inside}"]`)
    .click({trial: true, timeout: 5000}).then(() => true, () => false);
  check(takes, `a window under a band (db's at ${inside}) still takes clicks`);
  await page.locator(`.timeline[data-service="db"] .band[data-incident="${cas.id}"] .grip`).click();
  await page.waitForFunction((i) => document.body.dataset.incident === String(i), cas.id, {timeout: 15000});
  check(new URL(page.url()).hash === '#incident-' + cas.id && await page.locator('#incident-section').isVisible() &&
    (await page.locator('#incident-title').textContent()).includes('began at db'),
    'clicking the cascade\'s band opens its incident');
  // feedback on the incident, from its view: the server wants the write token, the page asks for it once
  const asked = [];
  page.on('dialog', (dlg) => { asked.push(dlg.message()); dlg.accept(expect.bands.write_token); });
  check((await page.locator('#incident-feedback .state').textContent()) === '', 'the incident has no feedback yet');
  const quiet = errors.length;
  await page.locator('#incident-feedback button.fp').click();
  await page.locator('#incident-feedback .state', {hasText: 'marked false positive'}).waitFor({timeout: 10000})
    .catch(() => {});
  const said = errors.splice(quiet);   // the browser logs the 401 that made the page ask; nothing else
  check(said.length === 1 && said[0].includes('401'), 'one 401 on the way: ' + said.join(' | '));
  check((await page.locator('#incident-feedback .state').textContent()) === 'marked false positive',
    'the incident\'s False positive button answers');
  check(asked.length === 1 && asked[0].includes('write token'), 'it asked for the write token: ' + asked.join(' | '));
  console.log('incident-feedback-sent ' + cas.id);
  await page.reload();
  await page.waitForFunction((i) => document.body.dataset.incident === String(i), cas.id, {timeout: 15000});
  check((await page.locator('#incident-feedback .state').textContent()) === 'marked false positive',
    'the incident\'s verdict shows when it is opened again');

  check(errors.length === 0, 'no console errors: ' + errors.join(' | '));
  check(external.length === 0, 'no request leaves the service: ' + external.join(' '));
  check(await page.evaluate(() => window.__xss === undefined), 'no script from log text ran');
} finally {
  await browser.close();
}
process.exit(problems.length ? 1 : 0);
