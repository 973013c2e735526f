// Check the example dashboard (docs/dashboard.yaml) in a running demo, as a user sees it.
//
// The demo serves the file as the YAML dashboard "mqtt-fleet". After the demo has made
// --traffic seconds of traffic (counted from --since, a time in ms since the epoch), this
// opens every view at desktop and phone width and fails when a card says that an entity
// or its history is missing (texts searched through the cards' shadow DOM), printing each
// card, and each view's height on a phone. --out DIR also saves every view at both widths
// as dashboard-<view>.png and dashboard-<view>-phone.png.
//
//   node tools/screenshots/check_dashboard.mjs --url http://127.0.0.1:8123 \
//       [--since 1765000000000] [--traffic 300] [--out DIR] [--chromium /usr/bin/chromium]
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { DESKTOP, PHONE, callWS, launch, log, logIn, settled, shootBoth } from './lib.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    since: { type: 'string', default: String(Date.now()) },
    traffic: { type: 'string', default: '300' },
    out: { type: 'string' },
    dashboard: { type: 'string', default: 'mqtt-fleet' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
  },
});
if (!args.url) {
  console.error('check_dashboard: --url is required');
  process.exit(2);
}
const BASE_URL = args.url.replace(/\/$/, '');
// What a card shows when an entity, its history or its statistics are missing (a state as
// the frontend writes it, capitalized: not a device named "... (app unknown)").
const PROBLEMS = [
  /not available/i,
  /not found/i,
  /No state history/i,
  /No statistics/i,
  /Configuration error/i,
  /\bUnavailable\b/,
  /\bUnknown\b/,
].map((pattern) => [pattern.source, pattern.flags]);

// In the page: every card whose text (shadow DOM included) shows one of `problems`.
function findProblems(problems) {
  const deepText = (root) => {
    const parts = [];
    const walk = (node) => {
      if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
      if (node.shadowRoot) walk(node.shadowRoot);
      for (const child of node.childNodes) walk(child);
    };
    walk(root);
    return parts.join(' ').replace(/\s+/g, ' ').trim();
  };
  const cards = [];
  const collect = (node) => {
    if (node.nodeType !== Node.ELEMENT_NODE && node.nodeType !== Node.DOCUMENT_FRAGMENT_NODE) return;
    const tag = node.tagName?.toLowerCase() ?? '';
    const isCard = /^hui-.*-card$/.test(tag) && tag !== 'hui-card';
    if (isCard && !/-(stack|section)-card$/.test(tag)) cards.push(node);
    if (node.shadowRoot) collect(node.shadowRoot);
    for (const child of node.children ?? []) collect(child);
  };
  collect(document.body);
  const found = [];
  for (const card of cards) {
    const text = deepText(card);
    const hits = problems
      .map(([source, flags]) => text.match(new RegExp(source, flags))?.[0])
      .filter(Boolean);
    if (!hits.length) continue;
    const config = card._config ?? {};
    const label = config.title || config.heading || config.name || config.entity || '';
    found.push(`${card.tagName.toLowerCase()}${label ? ` "${label}"` : ''}: ${hits.join(', ')} (${text.slice(0, 160)})`);
  }
  return found;
}

// The bottom of the lowest card: the view's height.
async function viewHeight(page) {
  const bottoms = await page
    .locator('ha-card')
    .filter({ visible: true })
    .evaluateAll((cards) => cards.map((card) => card.getBoundingClientRect().bottom + window.scrollY));
  return Math.ceil(Math.max(0, ...bottoms));
}

async function main() {
  const ready = Number(args.since) + Number(args.traffic) * 1000;
  if (Date.now() < ready) {
    log(`waiting ${Math.ceil((ready - Date.now()) / 1000)} s until the demo has made ${args.traffic} s of traffic`);
    await new Promise((resolve) => setTimeout(resolve, ready - Date.now()));
  }
  if (args.out) await mkdir(path.resolve(args.out), { recursive: true });
  const { browser, page } = await launch(args.chromium);
  let failed = 0;
  try {
    await logIn(page, BASE_URL);
    const config = await callWS(page, { type: 'lovelace/config', url_path: args.dashboard });
    for (const [index, view] of config.views.entries()) {
      const viewPath = view.path ?? String(index);
      await page.setViewportSize(DESKTOP);
      await page.goto(`${BASE_URL}/${args.dashboard}/${viewPath}`);
      await page.locator('hui-view').first().waitFor();
      for (const size of [DESKTOP, PHONE]) {
        await page.setViewportSize(size);
        await settled(page);
        await page.waitForTimeout(2_000); // history and templates arrive over the websocket
        const problems = await page.evaluate(findProblems, PROBLEMS);
        const height = await viewHeight(page);
        const width = size === PHONE ? 'phone' : 'desktop';
        log(`view ${viewPath} (${width} ${size.width} px): ${height} px tall, ${problems.length ? `${problems.length} problem(s)` : 'ok'}`);
        for (const problem of problems) log(`  ${problem}`);
        failed += problems.length;
      }
      if (args.out) {
        const files = await shootBoth(page, path.resolve(args.out), `dashboard-${viewPath}`, { tall: true });
        for (const file of files) log(`saved ${path.basename(file)}`);
      }
    }
  } finally {
    await browser.close();
  }
  if (failed) {
    log(`FAILED: ${failed} card(s) show a missing entity, history or statistics`);
    process.exit(1);
  }
  log('every view of the dashboard is fine at both widths');
}

main().catch((error) => {
  console.error(`check_dashboard: failed: ${error.message}`);
  process.exit(1);
});
