// What shoot.mjs and check_dashboard.mjs share: Chromium, the login, waiting, the two widths.
import path from 'node:path';

import { chromium } from 'playwright-core';

export const STEP_TIMEOUT = 60_000;
export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 390, height: 844 };
// A tall page is photographed whole, up to this height.
const MAX_HEIGHT = 8_000;
// Rendering settles (fonts, card animations) after the awaited element is there.
const SETTLE_MS = 1_000;
// A transparent 1x1 PNG stands in for brand icons: brands.home-assistant.io is not
// reachable offline, and a broken-image frame would show instead.
const BLANK_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

export function log(message) {
  console.log(`${path.basename(process.argv[1], '.mjs')}: ${message}`);
}

// Poll `condition` (async, returns truthy when met) until it holds or `timeout` ms pass.
export async function until(description, condition, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms: ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// Headless Chromium with a desktop-sized English page; brand icons answered locally.
export async function launch(executablePath) {
  // Playwright starts it headless and without its sandbox (which needs user namespaces).
  const browser = await chromium.launch({ executablePath, args: ['--disable-gpu'] });
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US', colorScheme: 'light' });
  await context.route(/^https:\/\/brands\.home-assistant\.io\//, (route) =>
    route.fulfill({ status: 200, contentType: 'image/png', body: BLANK_PNG }),
  );
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  return { browser, page };
}

export async function logIn(page, baseUrl) {
  await page.goto(baseUrl);
  await page.getByRole('textbox', { name: 'Username' }).fill(process.env.SCREENSHOTS_USER || 'demo');
  await page.getByRole('textbox', { name: 'Password' }).fill(process.env.SCREENSHOTS_PASSWORD || 'demo1234');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/(lovelace|home)/); // the default dashboard's path varies
  await hassReady(page);
}

// After a navigation the frontend connects anew: wait for it.
export async function hassReady(page) {
  await page.waitForFunction(() => document.querySelector('home-assistant')?.hass?.connected === true);
}

export async function callWS(page, message) {
  await hassReady(page);
  return page.evaluate((msg) => document.querySelector('home-assistant').hass.callWS(msg), message);
}

// Wait until no spinner is visible and the frontend shows no translation error.
export async function settled(page) {
  await until('the spinners to stop', async () =>
    (await page.locator('ha-spinner:visible, ha-circular-progress:visible').count()) === 0,
  );
  await page.waitForTimeout(SETTLE_MS);
  const problems = await page.getByText(/Translation error|Unknown error|Error loading/).count();
  if (problems) throw new Error(`the page shows an error text: ${page.url()}`);
  if (new URL(page.url()).pathname.startsWith('/auth/')) throw new Error('the page is the login page');
}

// Make the window as tall as the visible cards (the page scrolls inside it), at `width`.
export async function growToCards(page, width) {
  for (let round = 0; round < 2; round += 1) {
    const bottoms = await page
      .locator('ha-card')
      .filter({ visible: true })
      .evaluateAll((cards) => cards.map((card) => card.getBoundingClientRect().bottom));
    const base = width === PHONE.width ? PHONE.height : DESKTOP.height;
    const height = Math.min(MAX_HEIGHT, Math.max(base, Math.ceil(Math.max(0, ...bottoms)) + 24));
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(300);
  }
}

// Save `name`.png at desktop width and `name`-phone.png at phone width, then go back to the
// desktop size. `tall`: photograph the whole page, not just the window; `arrange`: an async
// function that arranges the page at each size (scrolls) before it is photographed.
export async function shootBoth(page, outDir, name, { tall = false, arrange = null } = {}) {
  const files = [];
  for (const [size, suffix] of [
    [DESKTOP, ''],
    [PHONE, '-phone'],
  ]) {
    await page.setViewportSize(size);
    await settled(page);
    if (tall) await growToCards(page, size.width);
    if (arrange) await arrange(page);
    const file = path.join(outDir, `${name}${suffix}.png`);
    await page.screenshot({ path: file });
    files.push(file);
  }
  await page.setViewportSize(DESKTOP);
  return files;
}
