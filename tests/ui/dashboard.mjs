// Drives the built-in dashboard in headless Debian chromium.
//   node dashboard.mjs TOOLS_DIR BASE_URL SCREENSHOT EXPECT_JSON
// EXPECT_JSON: {"services": {...name: windows}, "anomalies": N, "critical": N, "html_evidence": "...",
//               "unverified": [severities of the anomalies marked "unverified evidence"]}
// Prints one line per check; exits 1 on the first failure.
import {createRequire} from 'node:module';
import {join} from 'node:path';

const [tools, base, shot, expectJson] = process.argv.slice(2);
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
try {
  const page = await browser.newPage({viewport: {width: 1280, height: 900}});
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  let loads = 0;
  const loaded = async () => {
    loads++;
    await page.waitForFunction((n) => Number(document.body.dataset.loaded || 0) >= n, loads, {timeout: 15000});
  };

  await page.goto(base + '/');
  await loaded();
  for (const [svc, n] of Object.entries(expect.services)) {
    const cells = await page.locator(`.timeline[data-service="${svc}"] .cell`).count();
    check(cells === n, `timeline of ${svc} shows ${n} windows (saw ${cells})`);
  }
  const healths = await page.locator('.cell').evaluateAll((cs) => cs.map((c) => c.dataset.health));
  check(healths.some((h) => h === 'critical') && healths.some((h) => h === 'normal' || h === 'degraded'),
    'windows are coloured by health: ' + [...new Set(healths)].join(','));
  const bg = await page.locator('.cell.h-critical').first().evaluate((c) => getComputedStyle(c).backgroundColor);
  check(bg === 'rgb(209, 56, 61)', 'a critical window is red (' + bg + ')');
  check(await page.locator('.anomaly').count() === expect.anomalies, `${expect.anomalies} anomalies listed`);

  // log text with HTML in it stays text
  const evidence = await page.locator('.anomaly pre.evidence').allTextContents();
  check(evidence.some((t) => t.includes(expect.html_evidence)), 'HTML in evidence is shown as text');
  check(await page.locator('#anomalies img, #anomalies b').count() === 0, 'no element was made from log text');
  // an anomaly whose evidence is not in its window is marked, the others are not
  const unverified = await page.locator('.anomaly').evaluateAll((as) => as.map((a) =>
    a.querySelector('.head .unverified') ? a.dataset.severity : null).filter((s) => s));
  check(unverified.sort().join(',') === expect.unverified.sort().join(','),
    'unverified evidence marked on: ' + unverified.join(','));
  check(await page.evaluate(() => window.__xss === undefined), 'no script from log text ran');

  // a window's detail with its digest
  await page.locator('.cell.h-critical').first().click();
  await page.locator('#detail-section').waitFor({state: 'visible'});
  const digest = await page.locator('#detail-digest').textContent();
  check(digest.length > 20 && !digest.startsWith('(no digest'), 'window detail shows its digest');
  await page.screenshot({path: shot, fullPage: true});
  console.log('screenshot ' + shot);

  // filters
  await page.selectOption('#f-severity', 'critical');
  await loaded();
  const sevs = await page.locator('.anomaly').evaluateAll((as) => as.map((a) => a.dataset.severity));
  check(sevs.length === expect.critical && sevs.every((s) => s === 'critical'), 'severity filter: ' + sevs.join(','));
  await page.selectOption('#f-severity', '');
  await loaded();
  const one = Object.keys(expect.services)[0];
  await page.selectOption('#f-service', one);
  await loaded();
  const shown = await page.locator('.timeline').evaluateAll((ts) => ts.map((t) => t.dataset.service));
  check(shown.length === 1 && shown[0] === one, 'service filter shows one timeline: ' + shown.join(','));
  const svcs = await page.locator('.anomaly .service').allTextContents();
  check(svcs.every((s) => s === one), 'service filter applies to anomalies');
  await page.selectOption('#f-service', '');
  await loaded();
  await page.selectOption('#f-range', '3600');   // the seeded windows are older than an hour
  await loaded();
  check(await page.locator('.anomaly').count() === 0 && await page.locator('.cell').count() === 0,
    'time filter hides older windows and anomalies');
  await page.selectOption('#f-range', '');
  await loaded();

  // feedback
  const first = page.locator('.anomaly').first();
  const id = await first.getAttribute('data-id');
  await first.locator('button.fp').click();
  await first.locator('.state', {hasText: 'marked false positive'}).waitFor({timeout: 10000});
  console.log('feedback-sent ' + id);
  check(true, 'false positive button answers');

  check(errors.length === 0, 'no console errors: ' + errors.join(' | '));
  check(external.length === 0, 'no request leaves the service: ' + external.join(' '));
} finally {
  await browser.close();
}
process.exit(problems.length ? 1 : 0);
