// Drive headless Chromium through a running MQTT Fleet demo and save the README screenshots.
//
// Started by scripts/screenshots, which runs the demo with the SpotFi entry left out; this
// logs in, adds that entry through the integration's config flow in the UI, waits for the
// simulated routers to show up as devices and photographs the pages on the way.
//
//   node tools/screenshots/shoot.mjs --url http://127.0.0.1:8123 --out docs/screenshots \
//       --routers rtr-1a2b3c4d,rtr-5e6f7a8b [--chromium /usr/bin/chromium] \
//       [--failure-shot .demo/screenshots/failure.png]
//
// Login: $SCREENSHOTS_USER / $SCREENSHOTS_PASSWORD (default demo / demo1234).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    routers: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    'failure-shot': { type: 'string' },
  },
});
for (const name of ['url', 'out', 'routers']) {
  if (!args[name]) {
    console.error(`shoot: --${name} is required`);
    process.exit(2);
  }
}
const BASE_URL = args.url.replace(/\/$/, '');
const OUT_DIR = path.resolve(args.out);
const ROUTERS = args.routers.split(',').filter(Boolean);
const USER = process.env.SCREENSHOTS_USER || 'demo';
const PASSWORD = process.env.SCREENSHOTS_PASSWORD || 'demo1234';

const FAMILY = 'SpotFi OpenWrt routers';
const BASE_TOPIC = 'spotfi/router';
const ENTRY_TITLE = `SpotFi (${BASE_TOPIC})`;
const STEP_TIMEOUT = 60_000;
const VIEWPORT = { width: 1280, height: 860 };
// Rendering settles (fonts, card animations) after the awaited element is there.
const SETTLE_MS = 1_000;
// A transparent 1x1 PNG stands in for brand icons: brands.home-assistant.io is not
// reachable offline, and a broken-image frame would show instead.
const BLANK_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

const saved = [];
let step = 'start';

function log(message) {
  console.log(`shoot: ${message}`);
}

// Poll `condition` (async, returns truthy when met) until it holds or `timeout` ms pass.
async function until(description, condition, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// Wait until no spinner is visible and the frontend shows no translation error.
async function settled(page) {
  await until('the spinners to stop', async () =>
    (await page.locator('ha-spinner:visible, ha-circular-progress:visible').count()) === 0,
  );
  await page.waitForTimeout(SETTLE_MS);
  const problems = await page.getByText(/Translation error|Unknown error|Error loading/).count();
  if (problems) throw new Error(`the page shows an error text: ${page.url()}`);
  if (new URL(page.url()).pathname.startsWith('/auth/')) {
    throw new Error('the page is the login page');
  }
}

async function shoot(page, name, what) {
  await settled(page);
  const file = path.join(OUT_DIR, name);
  await page.screenshot({ path: file });
  saved.push([file, what]);
  log(`saved ${name}: ${what}`);
}

// The first visible match: pages left behind stay in the DOM, hidden.
function visible(locator) {
  return locator.filter({ visible: true }).first();
}

async function callWS(page, message) {
  return page.evaluate((msg) => document.querySelector('home-assistant').hass.callWS(msg), message);
}

async function logIn(page) {
  step = 'log in';
  await page.goto(BASE_URL);
  await page.getByRole('textbox', { name: 'Username' }).fill(USER);
  await page.getByRole('textbox', { name: 'Password' }).fill(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/(lovelace|home)/); // the default dashboard's path varies
  await page.waitForFunction(
    () => document.querySelector('home-assistant')?.hass?.connected === true,
  );
}

// The MQTT discovery of the routers offers the same stream: a stream that is being
// discovered cannot be added by hand, so the offer is ignored first, as a user would.
async function ignoreDiscoveredSpotFi(page) {
  step = 'ignore the discovered SpotFi stream';
  const card = page.locator('ha-config-flow-card').filter({ hasText: ENTRY_TITLE });
  await card.getByRole('button', { name: /ignore/i }).click();
  const confirm = page.locator('dialog-box');
  await confirm.getByText(`Ignore discovery of ${ENTRY_TITLE}?`).waitFor();
  await confirm.getByRole('button', { name: /ignore/i }).click();
  await card.waitFor({ state: 'detached' });
}

// The integration card shows our own brand icon, which Home Assistant serves from brand/.
async function checkBrandIcon(page) {
  step = 'check the MQTT Fleet brand icon';
  const icon = page.locator('img[src*="/api/brands/integration/mqtt_fleet/icon"]').first();
  await icon.waitFor();
  await until('the brand icon to load', () =>
    icon.evaluate((img) => img.complete && img.naturalWidth > 0),
  );
  const { src, width, height } = await icon.evaluate((img) => ({
    src: img.currentSrc || img.src,
    width: img.naturalWidth,
    height: img.naturalHeight,
  }));
  const response = await page.request.get(src);
  const type = response.headers()['content-type'];
  if (!response.ok() || type !== 'image/png' || width !== height || width < 256) {
    throw new Error(`brand icon ${src}: HTTP ${response.status()} ${type}, ${width}x${height}`);
  }
  console.log(`brand icon served: ${new URL(src).pathname} (${type}, ${width}x${height})`);
}

async function addSpotFiEntry(page) {
  step = 'open the integrations page';
  await page.goto(`${BASE_URL}/config/integrations/dashboard`);
  await visible(page.getByText('MQTT Fleet', { exact: true })).waitFor();
  await page.getByText(ENTRY_TITLE).waitFor();
  await checkBrandIcon(page);
  await shoot(
    page,
    'integrations.png',
    `Settings > Devices & services: the MQTT Fleet card and the discovered ${ENTRY_TITLE}`,
  );
  await ignoreDiscoveredSpotFi(page);

  step = 'start the config flow';
  await page.getByRole('button', { name: /add integration/i }).click();
  await page.getByPlaceholder(/search for a brand/i).fill('MQTT Fleet');
  // The dialog lists the match after the card behind it on the page.
  await page.getByText('MQTT Fleet', { exact: true }).last().click();

  step = 'pick the SpotFi family';
  await page.getByText('Add an MQTT Fleet stream').waitFor();
  await page.getByText(FAMILY).waitFor();
  await shoot(page, 'config-flow-menu.png', 'the config flow: pick the family of equipment');
  await page.getByText(FAMILY).click();

  step = 'fill in the SpotFi base topic';
  const baseTopic = page.getByRole('textbox', { name: /base topic/i });
  await baseTopic.waitFor();
  await baseTopic.fill(BASE_TOPIC);
  await page.getByText(/Routers running the SpotFi bridge/).waitFor();
  await shoot(page, 'config-flow-spotfi.png', 'the config flow: the SpotFi base topic');
  await page.getByRole('button', { name: /submit/i }).click();

  step = 'finish the config flow';
  // The flow ends by offering to name the new devices and assign them to areas.
  const created = page.getByText('Name and assign');
  await created.waitFor();
  await shoot(page, 'config-flow-created.png', `the config flow: ${ENTRY_TITLE} created`);
  await page.getByRole('button', { name: /finish/i }).click();
  await created.waitFor({ state: 'detached' });
}

// Return the SpotFi entry, once the simulated routers are devices of it.
async function spotFiEntryWithRouters(page) {
  step = 'wait for the routers';
  return until(`the routers ${ROUTERS.join(', ')} as devices of ${ENTRY_TITLE}`, async () => {
    const entries = await callWS(page, { type: 'config_entries/get', domain: 'mqtt_fleet' });
    const entry = entries.find((candidate) => candidate.title === ENTRY_TITLE);
    if (!entry || entry.state !== 'loaded') return null;
    const devices = await callWS(page, { type: 'config/device_registry/list' });
    const ours = devices.filter((device) => device.config_entries.includes(entry.entry_id));
    const names = new Set(ours.map((device) => device.name_by_user || device.name));
    return ROUTERS.every((router) => names.has(router)) ? entry : null;
  });
}

async function deviceIdNamed(page, name) {
  const devices = await callWS(page, { type: 'config/device_registry/list' });
  const device = devices.find((candidate) => candidate.name === name);
  if (!device) throw new Error(`no device named ${name}`);
  return device.id;
}

// Open a device page (when `url` is given) and wait until it shows each of `texts` (the
// entities that prove the device has reported) and, for a device with connectivity, that
// it is connected. Then make the window as tall as the page: the page scrolls inside it.
async function showDevicePage(page, url, name, texts, { connected = true } = {}) {
  if (url) await page.goto(url);
  await page.waitForURL(/\/config\/devices\/device\//);
  await visible(page.getByText(name, { exact: true })).waitFor();
  await visible(page.getByText(/(Device|Service) info/)).waitFor();
  for (const text of texts) await visible(page.getByText(text, { exact: true })).waitFor();
  if (connected) {
    const rows = page.locator('hui-generic-entity-row');
    await visible(rows.filter({ hasText: 'Connectivity' }).filter({ hasText: 'Connected' })).waitFor();
  }
  await settled(page);
  const bottoms = await page
    .locator('ha-card')
    .filter({ visible: true })
    .evaluateAll((cards) => cards.map((card) => card.getBoundingClientRect().bottom));
  const height = Math.max(VIEWPORT.height, Math.ceil(Math.max(...bottoms)) + 24);
  await page.setViewportSize({ width: VIEWPORT.width, height });
}

// Turn a relay on with its toggle and wait until the board confirmed it.
async function switchOnRelay(page, deviceId, relay) {
  step = `switch on relay ${relay}`;
  const entityId = await page.evaluate(
    ([id, suffix]) =>
      Object.values(document.querySelector('home-assistant').hass.entities).find(
        (entity) => entity.device_id === id && entity.entity_id.endsWith(suffix),
      )?.entity_id,
    [deviceId, `_relay_${relay}`],
  );
  if (!entityId) throw new Error(`the board has no relay ${relay}`);
  const row = page
    .locator('hui-toggle-entity-row')
    .filter({ hasText: new RegExp(`Relay ${relay}(?!\\d)`) });
  // The switch's input sits under its styled track: click the track, as a user does.
  await visible(row.getByRole('switch')).click({ force: true });
  await until(`${entityId} on`, () =>
    page.evaluate(
      (id) => document.querySelector('home-assistant').hass.states[id]?.state === 'on',
      entityId,
    ),
  );
}

async function main() {
  await mkdir(OUT_DIR, { recursive: true });
  step = 'launch Chromium';
  // Playwright starts it headless and without its sandbox (which needs user namespaces).
  const browser = await chromium.launch({ executablePath: args.chromium, args: ['--disable-gpu'] });
  let page = null;
  try {
    const context = await browser.newContext({
      viewport: VIEWPORT,
      locale: 'en-US',
      colorScheme: 'light',
    });
    await context.route(/^https:\/\/brands\.home-assistant\.io\//, (route) =>
      route.fulfill({ status: 200, contentType: 'image/png', body: BLANK_PNG }),
    );
    page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);

    await logIn(page);
    await addSpotFiEntry(page);
    const entry = await spotFiEntryWithRouters(page);

    step = 'the MQTT Fleet entries';
    await page.goto(`${BASE_URL}/config/integrations/integration/mqtt_fleet`);
    await page.getByText(ENTRY_TITLE).first().waitFor(); // the entry, and its hub device
    await shoot(page, 'integration-entries.png', 'the MQTT Fleet integration page with its entries');

    step = 'the SpotFi options';
    await visible(page.locator('ha-config-entry-row').filter({ hasText: ENTRY_TITLE }))
      .getByRole('button', { name: /configure/i })
      .click();
    const options = page.locator('dialog-data-entry-flow');
    await options.getByText('Allowed RPC calls').first().waitFor();
    const caps = options.getByText('Known devices only').first();
    await caps.scrollIntoViewIfNeeded();
    await caps.waitFor();
    await shoot(page, 'spotfi-options.png', `the options of ${ENTRY_TITLE}, its admission caps last`);
    await page.keyboard.press('Escape');
    await options.waitFor({ state: 'hidden' });

    step = 'the SpotFi devices';
    await page.goto(`${BASE_URL}/config/devices/dashboard?historyBack=1&config_entry=${entry.entry_id}`);
    for (const router of ROUTERS) await page.getByText(router, { exact: true }).waitFor();
    await shoot(page, 'spotfi-devices.png', `the devices of ${ENTRY_TITLE}: its hub and the routers`);

    step = 'a router page';
    await page.getByText(ROUTERS[0], { exact: true }).click();
    // The retained ONLINE alone leaves connectivity unknown: the first heartbeat connects it.
    await showDevicePage(page, null, ROUTERS[0], ['CPU load', 'Uptime']);
    await shoot(page, 'spotfi-router.png', `the device page of the SpotFi router ${ROUTERS[0]}`);

    step = 'the SpotFi hub page';
    const hubId = await deviceIdNamed(page, ENTRY_TITLE);
    await showDevicePage(
      page,
      `${BASE_URL}/config/devices/device/${hubId}`,
      ENTRY_TITLE,
      ['Broker connection', 'Devices online'],
      { connected: false },
    );
    await shoot(page, 'spotfi-hub.png', `the hub device of ${ENTRY_TITLE} with its health sensors`);

    step = 'an AutoCore board page';
    const boardId = await deviceIdNamed(page, 'relay_board_1');
    await showDevicePage(page, `${BASE_URL}/config/devices/device/${boardId}`, 'relay_board_1', [
      'Relay 1',
      'Firmware version',
    ]);
    await switchOnRelay(page, boardId, 1);
    await shoot(page, 'autocore-board.png', 'the device page of an AutoCore board with its relays');
  } catch (error) {
    if (page && args['failure-shot']) {
      await page.screenshot({ path: args['failure-shot'] }).catch(() => {});
    }
    throw error;
  } finally {
    await browser.close();
  }
  console.log(`\nScreenshots in ${OUT_DIR}:`);
  for (const [file, what] of saved) console.log(`  ${path.basename(file)}  ${what}`);
}

main().catch((error) => {
  console.error(`shoot: failed at step "${step}": ${error.message}`);
  process.exit(1);
});
