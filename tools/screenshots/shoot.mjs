// Drive headless Chromium through a running MQTT Fleet demo and save the README screenshots,
// each at desktop width (<page>.png) and phone width (<page>-phone.png).
//
// Started by scripts/screenshots, which runs the demo with the SpotFi entry left out; this
// logs in, adds that entry through the integration's config flow in the UI (with one wrong
// base topic first, for its inline error), waits for the simulated routers to show up as
// devices and photographs the pages on the way: entries, options, device pages of every
// family, the actions in Developer tools, the logbook and the system information.
//
//   node tools/screenshots/shoot.mjs --url http://127.0.0.1:8123 --out docs/screenshots \
//       --ready '{"layout_a": [...], "layout_b": [...], "janus": [...], "spotfi": [...]}' \
//       [--chromium /usr/bin/chromium] [--failure-shot .demo/screenshots/failure.png]
//
// --ready is the simulator's READY line (without "READY "): the devices it runs.
// Login: $SCREENSHOTS_USER / $SCREENSHOTS_PASSWORD (default demo / demo1234).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { DESKTOP, callWS, hassReady, launch, log, logIn, settled, shootBoth, until } from './lib.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    ready: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    'failure-shot': { type: 'string' },
  },
});
for (const name of ['url', 'out', 'ready']) {
  if (!args[name]) {
    console.error(`shoot: --${name} is required`);
    process.exit(2);
  }
}
const BASE_URL = args.url.replace(/\/$/, '');
const OUT_DIR = path.resolve(args.out);
const FLEET = JSON.parse(args.ready);
const ROUTERS = FLEET.spotfi;

const FAMILY = 'SpotFi OpenWrt routers';
const BASE_TOPIC = 'spotfi/router';
// The SpotFi entry's title (and its discovery's): "SpotFi", maybe with its base topic.
const ENTRY_TITLE = /^SpotFi\b/;

const saved = [];
let step = 'start';

async function shoot(page, name, what, options = {}) {
  const files = await shootBoth(page, OUT_DIR, name, options);
  saved.push([name, what]);
  log(`saved ${files.map((file) => path.basename(file)).join(', ')}: ${what}`);
}

// The first visible match: pages left behind stay in the DOM, hidden.
function visible(locator) {
  return locator.filter({ visible: true }).first();
}

// The MQTT discovery of the routers offers the same entry: one that is being discovered
// cannot be added by hand, so the offer is ignored first, as a user would.
async function ignoreDiscoveredSpotFi(page) {
  step = 'ignore the discovered SpotFi entry';
  const card = page.locator('ha-config-flow-card').filter({ hasText: /SpotFi/ });
  await card.getByRole('button', { name: /ignore/i }).click();
  const confirm = page.locator('dialog-box');
  await confirm.getByText(/Ignore discovery of SpotFi/).waitFor();
  await confirm.getByRole('button', { name: /ignore/i }).click();
  await card.waitFor({ state: 'detached' });
}

// The integration card shows our own brand icon, which Home Assistant serves from brand/.
async function checkBrandIcon(page) {
  step = 'check the MQTT Fleet brand icon';
  const icon = page.locator('img[src*="/api/brands/integration/mqtt_fleet/icon"]').first();
  await icon.waitFor();
  await until('the brand icon to load', () => icon.evaluate((img) => img.complete && img.naturalWidth > 0));
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
  log(`brand icon served: ${new URL(src).pathname} (${type}, ${width}x${height})`);
}

async function addSpotFiEntry(page) {
  step = 'open the integrations page';
  await page.goto(`${BASE_URL}/config/integrations/dashboard`);
  await visible(page.getByText('MQTT Fleet', { exact: true })).waitFor();
  await page.locator('ha-config-flow-card').filter({ hasText: /SpotFi/ }).waitFor();
  await checkBrandIcon(page);
  await shoot(page, 'integrations', 'Settings > Devices & services: MQTT Fleet and the discovered SpotFi entry');
  await ignoreDiscoveredSpotFi(page);

  step = 'start the config flow';
  await page.getByRole('button', { name: /add integration/i }).click();
  await page.getByPlaceholder(/search for a brand/i).fill('MQTT Fleet');
  await visible(page.locator('dialog-add-integration').getByText('MQTT Fleet', { exact: true })).click();

  step = 'pick the SpotFi family';
  await page.getByText(FAMILY).waitFor();
  await shoot(page, 'config-flow-menu', 'the config flow: pick the family of equipment');
  await page.getByText(FAMILY).click();

  step = 'fill in the SpotFi base topic';
  const baseTopic = page.getByRole('textbox', { name: /base topic/i });
  await baseTopic.waitFor();
  await baseTopic.fill(BASE_TOPIC);
  await page.getByText(/Routers running the SpotFi bridge/).waitFor();
  await shoot(page, 'config-flow-spotfi', 'the config flow: the SpotFi base topic');

  step = 'a wrong base topic';
  await baseTopic.fill(`${BASE_TOPIC}/#`);
  await page.getByRole('button', { name: /submit/i }).click();
  await page.getByText(/wildcards/).waitFor();
  await shoot(page, 'config-flow-error', 'the config flow: a base topic with a wildcard is refused inline');
  await baseTopic.fill(BASE_TOPIC);
  await page.getByRole('button', { name: /submit/i }).click();

  step = 'finish the config flow';
  // The flow ends by offering to name the new devices and assign them to areas.
  const created = page.getByText('Name and assign');
  await created.waitFor();
  await shoot(page, 'config-flow-created', 'the config flow: the SpotFi entry created');
  await page.getByRole('button', { name: /finish/i }).click();
  await created.waitFor({ state: 'detached' });
}

async function fleetEntries(page) {
  return callWS(page, { type: 'config_entries/get', domain: 'mqtt_fleet' });
}

// Return the SpotFi entry, once the simulated routers are devices of it.
async function spotFiEntryWithRouters(page) {
  step = 'wait for the routers';
  return until(`the routers ${ROUTERS.join(', ')} as devices of the SpotFi entry`, async () => {
    const entry = (await fleetEntries(page)).find((candidate) => ENTRY_TITLE.test(candidate.title));
    if (!entry || entry.state !== 'loaded') return null;
    const devices = await callWS(page, { type: 'config/device_registry/list' });
    const ours = devices.filter((device) => device.config_entries.includes(entry.entry_id));
    const known = new Set(ours.flatMap((device) => device.identifiers.map(([, id]) => id)));
    return ROUTERS.every((router) => [...known].some((id) => id.endsWith(router))) ? entry : null;
  });
}

// A hub's own device: its only identifier is the entry id (its devices' add their own id).
const isHubDevice = (device, entry) =>
  device.identifiers.some(([domain, id]) => domain === 'mqtt_fleet' && id === entry.entry_id);

// The registry entry of the device the simulator calls `wireId` (its name, serial number or
// the end of its identifier), or with `hub`, the hub device of the entry titled `entryTitle`.
async function findDevice(page, { wireId, entryTitle, hub = false }) {
  const devices = await callWS(page, { type: 'config/device_registry/list' });
  const entries = await fleetEntries(page);
  const device = devices.find((candidate) => {
    if (hub) {
      const entry = entries.find((e) => e.title === entryTitle);
      return entry && isHubDevice(candidate, entry);
    }
    return (
      candidate.name === wireId ||
      candidate.serial_number === wireId ||
      candidate.identifiers.some(([domain, id]) => domain === 'mqtt_fleet' && id.endsWith(wireId))
    );
  });
  if (!device) throw new Error(`no device ${wireId ?? `hub of ${entryTitle}`}`);
  return device;
}

// The first device of the entry titled `entryTitle` that is not its hub.
async function firstDeviceOf(page, entryTitle) {
  const entry = (await fleetEntries(page)).find((e) => e.title === entryTitle);
  const devices = await callWS(page, { type: 'config/device_registry/list' });
  const ours = devices
    .filter((device) => entry && device.config_entries.includes(entry.entry_id) && !isHubDevice(device, entry))
    .sort((a, b) => (a.name_by_user || a.name).localeCompare(b.name_by_user || b.name));
  if (!ours.length) throw new Error(`no device of ${entryTitle}`);
  return ours[0];
}

// Open a device page and wait until it shows its name and, for a device with
// connectivity, that it is connected.
async function showDevicePage(page, device, { connected = true } = {}) {
  const name = device.name_by_user || device.name;
  await page.goto(`${BASE_URL}/config/devices/device/${device.id}`);
  await visible(page.getByText(name, { exact: true })).waitFor();
  await visible(page.getByText(/(Device|Service) info/)).waitFor();
  if (connected) {
    const rows = page.locator('hui-generic-entity-row');
    await visible(rows.filter({ hasText: 'Connectivity' }).filter({ hasText: 'Connected' })).waitFor();
  }
  await settled(page);
  return name;
}

// Turn the board's first relay on with its toggle and wait until the board confirmed it.
async function switchOnFirstRelay(page, deviceId) {
  step = 'switch on the first relay';
  const [entityId, name] = await page.evaluate((id) => {
    const hass = document.querySelector('home-assistant').hass;
    const relays = Object.values(hass.entities)
      .filter((entity) => entity.device_id === id && entity.entity_id.startsWith('switch.'))
      .map((entity) => entity.entity_id)
      .sort();
    const device = hass.devices[id];
    const friendly = relays[0] ? hass.states[relays[0]].attributes.friendly_name : '';
    return [relays[0], friendly.replace(device.name_by_user || device.name, '').trim()];
  }, deviceId);
  if (!entityId) throw new Error('the board has no relay');
  const row = page.locator('hui-toggle-entity-row').filter({ hasText: new RegExp(`${name}(?!\\d)`) });
  // The switch's input sits under its styled track: click the track, as a user does.
  await visible(row.getByRole('switch')).click({ force: true });
  await until(`${entityId} on`, () =>
    page.evaluate((id) => document.querySelector('home-assistant').hass.states[id]?.state === 'on', entityId),
  );
}

// Every entry's options dialog, from its row on the integration page.
async function shootOptions(page) {
  for (const entry of await fleetEntries(page)) {
    step = `the options of ${entry.title}`;
    const family = entry.title.replace(/ \(.*$/, '').toLowerCase().replace(/\W+/g, '-');
    await page.goto(`${BASE_URL}/config/integrations/integration/mqtt_fleet`);
    await visible(page.locator('ha-config-entry-row').filter({ hasText: entry.title }))
      .getByRole('button', { name: /configure/i })
      .click();
    const dialog = page.locator('dialog-data-entry-flow');
    await dialog.locator('ha-form').first().waitFor();
    await shoot(page, `options-${family}`, `the options of ${entry.title}`);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await page.waitForTimeout(1_000); // the closed dialog goes back in the history
  }
}

// Developer tools > Actions in UI mode with `action` picked and its form filled: the
// frontend keeps the last action in local storage. A device field gets the HA device id
// (the picker shows its name), a text field the device's own id.
async function shootAction(page, action, device, wireId, data) {
  step = `the action ${action}`;
  const service = action.split('.')[1];
  await hassReady(page);
  const fields = await page.evaluate(
    (name) => document.querySelector('home-assistant').hass.services.mqtt_fleet?.[name]?.fields,
    service,
  );
  if (!fields) throw new Error(`no action ${action}`);
  const filled = { ...data };
  for (const [field, spec] of Object.entries(fields)) {
    if (spec.selector?.device && device) filled[field] = device.id;
    else if (['router', 'server'].includes(field)) filled[field] = wireId;
  }
  await page.evaluate(
    ([serviceData]) => {
      localStorage.setItem('panel-dev-action-state-service-data', JSON.stringify(serviceData));
      localStorage.setItem('panel-dev-action-state-yaml-mode', 'false');
    },
    [{ action, data: filled }],
  );
  await page.goto(`${BASE_URL}/developer-tools/action`);
  await visible(page.locator('ha-service-control')).waitFor();
  await visible(page.getByRole('button', { name: /perform action/i })).waitFor();
  await shoot(page, `action-${service.replace(/_/g, '-')}`, `Developer tools > Actions: ${action}`);
}

async function shootSystemInformation(page) {
  step = 'the system information';
  await page.goto(`${BASE_URL}/config/repairs`);
  await visible(page.getByRole('button', { name: 'Menu' })).click();
  await page.getByRole('menuitem', { name: /system information/i }).click();
  const dialog = page.locator('dialog-system-information');
  const section = visible(dialog.getByText('MQTT Fleet', { exact: true }));
  await section.waitFor();
  // Its heading at the top of the dialog: the core's and the dashboards' sections come
  // first. Its scrolling container is in the dialog's shadow DOM, around the slot it is in.
  // It is in place once the system health has loaded (the dialog grows) and it scrolled.
  const scrollToSection = () =>
    until('the MQTT Fleet section at the top of the dialog', () =>
      section.evaluate((heading) => {
        const up = (node) => node.assignedSlot ?? node.parentNode ?? node.host;
        for (let node = up(heading); node; node = up(node)) {
          if (node.nodeType !== Node.ELEMENT_NODE) continue;
          const { overflowY } = getComputedStyle(node);
          if (node.scrollHeight > node.clientHeight && ['auto', 'scroll'].includes(overflowY)) {
            node.scrollTop += heading.getBoundingClientRect().top - node.getBoundingClientRect().top - 8;
            return heading.getBoundingClientRect().top - node.getBoundingClientRect().top < 16;
          }
        }
        return false;
      }),
    );
  await shoot(page, 'system-information', 'Settings > Repairs > System information: MQTT Fleet', {
    arrange: scrollToSection,
  });
}

async function main() {
  await mkdir(OUT_DIR, { recursive: true });
  step = 'launch Chromium';
  const { browser, page } = await launch(args.chromium);
  try {
    step = 'log in';
    await logIn(page, BASE_URL);
    await addSpotFiEntry(page);
    const entry = await spotFiEntryWithRouters(page);

    step = 'the MQTT Fleet entries';
    await page.goto(`${BASE_URL}/config/integrations/integration/mqtt_fleet`);
    await page.getByText(entry.title, { exact: true }).first().waitFor(); // the entry, and its hub device
    await shoot(page, 'integration-entries', 'the MQTT Fleet integration page with its entries');

    await shootOptions(page);

    step = 'the SpotFi devices';
    await page.goto(`${BASE_URL}/config/devices/dashboard?historyBack=1&config_entry=${entry.entry_id}`);
    const router = await findDevice(page, { wireId: ROUTERS[0] });
    await visible(page.locator('ha-data-table').getByText(router.name_by_user || router.name, { exact: true })).waitFor();
    if (!page.url().includes('/config/devices/dashboard')) throw new Error(`not the devices page: ${page.url()}`);
    await shoot(page, 'spotfi-devices', `the devices of ${entry.title}: its hub and the routers`);

    step = 'a router page';
    // The retained ONLINE alone leaves connectivity unknown: the first heartbeat connects it.
    let name = await showDevicePage(page, router);
    await shoot(page, 'device-spotfi-router', `the device page of the SpotFi router ${name}`, { tall: true });

    step = 'the SpotFi hub page';
    const hub = await findDevice(page, { entryTitle: entry.title, hub: true });
    name = await showDevicePage(page, hub, { connected: false });
    await shoot(page, 'device-hub', `the hub device ${name} with its health sensors`, { tall: true });

    step = 'a firmware v2 board page';
    const board = await findDevice(page, { wireId: FLEET.layout_b[0] });
    name = await showDevicePage(page, board);
    await switchOnFirstRelay(page, board.id);
    await shoot(page, 'device-autocore-relay-board', `the device page of the firmware v2 board ${name}, its first relay on`, {
      tall: true,
    });

    step = 'a layout A board page';
    const monitor = await findDevice(page, { wireId: FLEET.layout_a[0] });
    name = await showDevicePage(page, monitor);
    await shoot(page, 'device-autocore-monitor', `the device page of the layout A board ${name}`, { tall: true });

    step = 'a Janus server page';
    const server = await findDevice(page, { wireId: FLEET.janus[0] });
    name = await showDevicePage(page, server);
    await shoot(page, 'device-janus-server', `the device page of the Janus server ${name}`, { tall: true });

    step = 'a log source page';
    const logsEntry = (await fleetEntries(page)).find((e) => e.title.startsWith('Container logs'));
    const source = await firstDeviceOf(page, logsEntry.title);
    name = await showDevicePage(page, source, { connected: false });
    await shoot(page, 'device-log-source', `the device page of the log source ${name}`, { tall: true });

    await shootAction(page, 'mqtt_fleet.send_command', board, FLEET.layout_b[0], { command: 'status' });
    await shootAction(page, 'mqtt_fleet.list_sessions', server, FLEET.janus[0], {});
    await shootAction(page, 'mqtt_fleet.rpc_call', router, ROUTERS[0], { path: 'system', method: 'board' });
    await shootAction(page, 'mqtt_fleet.terminal_exec', router, ROUTERS[0], { command: 'uptime' });
    await shootAction(page, 'mqtt_fleet.forward_log', null, null, { message: 'Backup finished', level: 'info' });

    step = 'the logbook';
    await page.goto(`${BASE_URL}/logbook`);
    await visible(page.locator('ha-logbook')).waitFor();
    await shoot(page, 'logbook', 'the logbook with the fleet events');

    await shootSystemInformation(page);
  } catch (error) {
    if (args['failure-shot']) await page.screenshot({ path: args['failure-shot'] }).catch(() => {});
    throw error;
  } finally {
    await page.setViewportSize(DESKTOP).catch(() => {});
    await browser.close();
  }
  console.log(`\nScreenshots in ${OUT_DIR} (each also as -phone):`);
  for (const [name, what] of saved) console.log(`  ${name}.png  ${what}`);
}

main().catch((error) => {
  console.error(`shoot: failed at step "${step}": ${error.message}`);
  process.exit(1);
});
