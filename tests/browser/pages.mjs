// The web pages of a running Waakvlam daemon in a real browser: Debian's chromium driven by
// Playwright, every page scanned by axe-core for WCAG 2.1 A and AA, used by keyboard, at 200%
// zoom and on a phone, and without JavaScript. Started by tests/browser.rs, which starts the
// daemon and passes where it is:
//
//   WAAKVLAM_URL         the daemon's address
//   WAAKVLAM_TOKEN       a region token; WAAKVLAM_READ_ONLY_TOKEN a read-only one
//   WAAKVLAM_CHROMIUM    the browser (default /usr/bin/chromium)
//   WAAKVLAM_ARTIFACTS   where screenshots go: of every page that fails, and of the overview
//                        when WAAKVLAM_SCREENSHOT names a file for it
//
// Prints one line per check and exits 1 when any failed.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { check, failures, violations } from './checks.mjs';

const base = process.env.WAAKVLAM_URL;
const token = process.env.WAAKVLAM_TOKEN;
const readOnlyToken = process.env.WAAKVLAM_READ_ONLY_TOKEN;
const artifacts = process.env.WAAKVLAM_ARTIFACTS ?? 'browser-artifacts';
fs.mkdirSync(artifacts, { recursive: true });

const pages = [
  '/',
  '/termijnen',
  '/termijnen?status=overdue',
  '/casus/GM0150/C-2',
  '/casus/GM0150/C-1',
  '/workflows',
  '/workflows/bezwaar',
  '/wat-als',
  '/meldingen',
  '/rapportage',
  '/rapportage?periode=eigen&van=2027-04-01&tot=2027-06-30',
  '/agenda',
];

async function shoot(page, name) {
  const file = path.join(artifacts, `${name.replace(/[^a-z0-9]+/gi, '_')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function signIn(page, withToken) {
  await page.goto(`${base}/inloggen`);
  await page.fill('#token', withToken);
  await Promise.all([page.waitForNavigation(), page.press('#token', 'Enter')]);
}

const browser = await chromium.launch({
  executablePath: process.env.WAAKVLAM_CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

try {
  // Desktop, signed in with a region token.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL' });
  const page = await context.newPage();
  const cspErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      cspErrors.push(`${page.url()}: ${message.text()}`);
    }
  });

  await page.goto(`${base}/inloggen`);
  check('the sign-in page passes axe', (await violations(page)).length === 0, (await violations(page)).join('; '));
  // By keyboard: the first Tab reaches the skip link, then the token field.
  await page.keyboard.press('Tab');
  check('the first Tab reaches the skip link', (await page.evaluate(() => document.activeElement?.textContent?.trim())) === 'Naar de inhoud');
  await signIn(page, token);
  check('signing in leads to the overview', new URL(page.url()).pathname === '/', page.url());

  for (const address of pages) {
    const response = await page.goto(`${base}${address}`);
    const found = await violations(page);
    const ok = response.status() === 200 && found.length === 0;
    check(`${address} passes axe`, ok, `status ${response.status()}; ${found.join('; ')}`);
    if (!ok) console.log(`     screenshot: ${await shoot(page, `failed ${address}`)}`);
    const heading = await page.locator('h1').count();
    check(`${address} has one h1`, heading === 1, `${heading}`);
  }
  check('no page breaks its Content-Security-Policy', cspErrors.length === 0, cspErrors.join('; '));

  // Keyboard: the menu is reached with Tab and followed with Enter.
  await page.goto(`${base}/`);
  let reached = false;
  for (let i = 0; i < 12 && !reached; i += 1) {
    await page.keyboard.press('Tab');
    reached = (await page.evaluate(() => document.activeElement?.textContent?.trim())) === 'Termijnen';
  }
  check('the menu is reached by keyboard', reached);
  if (reached) {
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    check('Enter follows a menu link', new URL(page.url()).pathname === '/termijnen', page.url());
  }
  const outline = await page.evaluate(() => {
    const link = document.querySelector('.menu a');
    link.focus();
    return getComputedStyle(link).outlineStyle;
  });
  check('a focused link shows where the focus is', outline !== 'none', outline);

  if (process.env.WAAKVLAM_SCREENSHOT) {
    await page.goto(`${base}/`);
    await page.screenshot({ path: process.env.WAAKVLAM_SCREENSHOT, fullPage: true });
    console.log(`     overview: ${process.env.WAAKVLAM_SCREENSHOT}`);
  }

  // 200% zoom on a 1280-pixel screen, and a phone: nothing scrolls sideways but the tables
  // inside their own scrolling box (WCAG 1.4.10 allows that for data tables).
  for (const [name, viewport] of [['200% zoom', { width: 640, height: 800 }], ['a phone', { width: 375, height: 740 }]]) {
    await page.setViewportSize(viewport);
    for (const address of pages) {
      await page.goto(`${base}${address}`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      const ok = wide <= 0;
      check(`${address} at ${name} needs no sideways scrolling`, ok, `${wide}px too wide`);
      if (!ok) console.log(`     screenshot: ${await shoot(page, `too wide ${name} ${address}`)}`);
    }
  }
  await context.close();

  // Without JavaScript everything works: sign in, follow the menu, filter the deadlines.
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noScript.newPage();
  await signIn(plain, token);
  check('without JavaScript, signing in works', new URL(plain.url()).pathname === '/', plain.url());
  await Promise.all([plain.waitForNavigation(), plain.click('nav >> text=Termijnen')]);
  await plain.selectOption('#status', 'open');
  await Promise.all([plain.waitForNavigation(), plain.click('text=Toon termijnen')]);
  check('without JavaScript, the filters work', plain.url().includes('status=open'), plain.url());
  await noScript.close();

  // A read-only token sees no button that changes anything.
  const reader = await browser.newContext();
  const readOnly = await reader.newPage();
  await signIn(readOnly, readOnlyToken);
  await readOnly.goto(`${base}/meldingen`);
  check('read-only: no "Opnieuw versturen"', (await readOnly.locator('text=Opnieuw versturen').count()) === 0);
  await readOnly.goto(`${base}/agenda`);
  check('read-only: no feed form', (await readOnly.locator('form[action="/agenda"]').count()) === 0);
  check('read-only: no revoke button', (await readOnly.locator('text=Intrekken').count()) === 0);
  await reader.close();
} finally {
  await browser.close();
}

if (failures.length > 0) {
  console.log(`${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log('all browser checks passed');
