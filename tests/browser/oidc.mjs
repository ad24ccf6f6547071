// Signing in with the gemeente's own identity provider in a real browser: Debian's chromium,
// driven by Playwright, from Waakvlam's sign-in page through the provider's own login and
// consent pages (oidc-provider, started by tests/oidc.rs) and back, signed in. The sign-in page
// with the provider's button and the refusal page are scanned by axe-core. Started by
// tests/oidc.rs, which passes where things are:
//
//   WAAKVLAM_URL         the daemon's address
//   WAAKVLAM_CHROMIUM    the browser (default /usr/bin/chromium)
//   WAAKVLAM_ARTIFACTS   where screenshots of failures go
//
// Prints one line per check and exits 1 when any failed.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { check, failures, violations } from './checks.mjs';

const base = process.env.WAAKVLAM_URL;
const artifacts = process.env.WAAKVLAM_ARTIFACTS ?? 'browser-artifacts';
fs.mkdirSync(artifacts, { recursive: true });

/// From Waakvlam's sign-in page, by its button, through the provider's pages as `person`.
async function signInAt(page, person) {
  await page.goto(`${base}/inloggen`);
  await Promise.all([page.waitForNavigation(), page.click('text=Inloggen met Testprovider')]);
  await page.fill('input[name="login"]', person);
  await page.fill('input[name="password"]', 'wachtwoord');
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  // The provider asks once to share the person's details with Waakvlam.
  if (await page.$('input[name="prompt"][value="consent"]')) {
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  }
  // Waakvlam's own page that goes on by itself to where the person was going.
  await page.waitForLoadState('load');
  if (page.url().includes('/inloggen/oidc/terug') && !(await page.textContent('body')).includes('geen groep')) {
    await page.waitForURL((u) => !u.pathname.startsWith('/inloggen'));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.WAAKVLAM_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL' });
  // Nothing leaves this machine (the provider's login page asks for a web font elsewhere).
  await context.route('**/*', (route) =>
    ['127.0.0.1', 'localhost'].includes(new URL(route.request().url()).hostname) ? route.continue() : route.abort(),
  );
  const page = await context.newPage();
  await page.goto(`${base}/inloggen`);
  const button = await page.$('text=Inloggen met Testprovider');
  check('the sign-in page offers the provider', button !== null);
  const found = await violations(page);
  check('the sign-in page with the provider passes axe', found.length === 0, found.join('; '));

  await signInAt(page, 'medewerker.deventer');
  const url = new URL(page.url());
  check('back on the overview, signed in', url.origin === new URL(base).origin && url.pathname === '/', page.url());
  const text = await page.textContent('body');
  check('the page names the person', text.includes('medewerker.deventer'));
  check('the person sees Deventer', text.includes('Deventer'));
  check('the person does not see Apeldoorn', !text.includes('Apeldoorn'));
  if (failures.length) {
    await page.screenshot({ path: path.join(artifacts, 'oidc_signed_in.png'), fullPage: true });
  }

  // Someone in no group that gives access: a Dutch page that says why.
  const other = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL' });
  await other.route('**/*', (route) =>
    ['127.0.0.1', 'localhost'].includes(new URL(route.request().url()).hostname) ? route.continue() : route.abort(),
  );
  const refused = await other.newPage();
  await signInAt(refused, 'zonder.groepen');
  const said = await refused.textContent('body');
  check('a person without a group is refused in Dutch', said.includes('hoort bij geen groep die toegang geeft'), said);
  const onRefusal = await violations(refused);
  check('the refusal page passes axe', onRefusal.length === 0, onRefusal.join('; '));
  if (!said.includes('hoort bij geen groep')) {
    await refused.screenshot({ path: path.join(artifacts, 'oidc_refused.png'), fullPage: true });
  }
} finally {
  await browser.close();
}

process.exit(failures.length ? 1 : 0);
