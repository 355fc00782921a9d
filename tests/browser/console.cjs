// The console in headless Chromium (Debian's, driven by playwright-core): sign up, see the home
// page, create an organization with a hostile name and see it inert, sign out, sign in again, and
// check every page with axe-core (no serious or critical violations) and that every form field has
// a label. A screenshot of each page is kept in $DOCENT_SCREENSHOTS. Run by scripts/browser-tests.
'use strict';

const fs = require('fs');
const path = require('path');
const http = require('http');
const { chromium } = require('playwright-core');

const base = process.env.DOCENT_URL;
const shots = process.env.DOCENT_SCREENSHOTS;
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

// The link of a mail to `to` in the outbox (the file transport's .eml files) to `page` with a token
// of `prefix`, pointed at this server (the mail uses the configured public URL).
async function mailedLink(page, prefix, to) {
  const outbox = process.env.BROWSER_OUTBOX;
  const token = new RegExp(`${prefix}[A-Za-z0-9_-]{43}`);
  const recipient = new RegExp(`^To:.*${to.replace(/[.]/g, '\\.')}`, 'mi');
  for (let attempt = 0; attempt < 100; attempt += 1) {
    for (const file of fs.readdirSync(outbox)) {
      const mail = fs.readFileSync(path.join(outbox, file), 'utf8').replace(/=\r?\n/g, '');
      const found = recipient.test(mail) && mail.includes(`/${page}?token=`) && mail.match(token);
      if (found) {
        return `${base}/${page}?token=${found[0]}`;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no mail with a ${page} link arrived`);
}

// A JSON call to the API.
async function api(method, route, token, body) {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  check(response.ok, `${method} ${route}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  console.log(`browser: ${name}.png`);
}

// axe-core runs in a context that bypasses the page's CSP (it is injected as a script), on a copy of
// the page loaded there with the same cookies.
async function accessible(context, url, name) {
  const page = await context.newPage();
  await page.goto(url);
  await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate(async () => await window.axe.run());
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(
    serious.length === 0,
    `${name}: axe found ${serious.map((v) => `${v.id} (${v.impact}): ${v.help}`).join('; ')}`,
  );
  const unlabeled = await page.evaluate(() =>
    [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((field) => field.labels.length === 0 && !field.getAttribute('aria-label'))
      .map((field) => field.name),
  );
  check(unlabeled.length === 0, `${name}: fields without a label: ${unlabeled}`);
  console.log(`browser: ${name} passes axe (${results.passes.length} rules pass, none serious)`);
  await page.close();
}

(async () => {
  // playwright gives the browser a new empty profile of its own.
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
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
  const context = await browser.newContext();
  const audits = await browser.newContext({ bypassCSP: true });
  const errors = [];
  try {
    const page = await context.newPage();
    // Script errors, CSP refusals, and anything the pages ask for that is not there. (The refused
    // sign-in answers 401 on purpose; the browser logs that as a failed load.)
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        errors.push(message.text());
      }
    });
    page.on('response', (response) => {
      if (response.status() === 404) {
        errors.push(`404 ${response.url()}`);
      }
    });

    await page.goto(`${base}/`);
    check(page.url() === `${base}/login`, `a visitor lands on /login, not ${page.url()}`);
    await shot(page, 'login');
    await accessible(audits, `${base}/login`, 'login');

    await page.click('text=Create an account');
    await shot(page, 'signup');
    await accessible(audits, `${base}/signup`, 'signup');
    await page.fill('#name', 'Ada <b>Lovelace</b>');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);
    check((await page.textContent('.flash')).includes('Welcome to docent'), 'the welcome message');
    check((await page.textContent('.who')).includes('Ada <b>Lovelace</b>'), 'the name shown as text');
    check((await page.locator('.who b').count()) === 0, 'no markup from the name');

    const hostile = '<img src=x onerror="window.pwned=1">';
    await page.fill('#org-name', hostile);
    await page.click('form[action="/orgs"] button');
    await page.waitForURL(`${base}/`);
    check((await page.textContent('table')).includes(hostile), 'the organization name shown as text');
    check((await page.locator('table img').count()) === 0, 'no image from the organization name');
    check((await page.evaluate(() => window.pwned)) === undefined, 'no script ran');
    await shot(page, 'home');
    await audits.addCookies(await context.cookies());
    await accessible(audits, `${base}/`, 'home');

    // The organization's pages: overview with the switcher, members with an invitation, the audit
    // log filtered by action, and the settings with the typed delete confirmation.
    await page.click('table a');
    await page.waitForURL(/\/orgs\/[0-9a-f-]+$/);
    const orgUrl = page.url();
    check((await page.textContent('.switcher summary')).includes(hostile), 'the switcher shows the name as text');
    check((await page.locator('.switcher img, h1 img').count()) === 0, 'no image from the name in the switcher');
    await shot(page, 'org-overview');
    await accessible(audits, orgUrl, 'org-overview');

    // Documents: two files dropped on the upload area, each with its own progress, then the list
    // refreshes itself until both are ready; the hostile file name stays text.
    await page.click('.tabs a[href$="/documents"]');
    await page.waitForURL(`${orgUrl}/documents`);
    const hostileFile = '<img src=x onerror=window.pwned=2>.txt';
    await page.evaluate((name) => {
      const dropped = new DataTransfer();
      dropped.items.add(new File(['# Leave\n\n## Parental leave\n\nParents get sixteen weeks of paid parental leave. <script>window.pwned=3</script> [Apply here](javascript:window.pwned=4) ![logo](http://127.0.0.1:9/logo.png)\n'], 'handbook.md', { type: 'text/markdown' }));
      dropped.items.add(new File(['Alarms are tested at noon on the first Friday of each month with **earplugs** on, see [Apply here](javascript:window.pwned=4) and ![logo](http://localhost:9/logo) and <script>window.pwned=3</script> for details.'], name, { type: 'text/plain' }));
      document.querySelector('[data-dropzone]').dispatchEvent(new DragEvent('drop', { dataTransfer: dropped, bubbles: true, cancelable: true }));
    }, hostileFile);
    await page.waitForFunction(() => document.querySelectorAll('[data-uploads] li.ok').length === 2, null, { timeout: 30000 });
    check((await page.locator('[data-uploads] progress').count()) === 2, 'a progress bar per file');
    await page.waitForFunction(() => document.querySelectorAll('#documents .status.ready').length === 2, null, { timeout: 120000 });
    check((await page.textContent('#documents')).includes(hostileFile), 'the file name shown as text');
    check((await page.locator('#documents img').count()) === 0, 'no image from the file name');
    check((await page.evaluate(() => window.pwned)) === undefined, 'no script ran from the file name');
    await shot(page, 'documents');
    await accessible(audits, `${orgUrl}/documents`, 'documents');
    await page.click('#documents a:text("handbook.md")');
    await page.waitForURL(/\/documents\/[0-9a-f-]+$/);
    check((await page.textContent('.chunks')).includes('Leave › Parental leave'), 'a chunk with its section');
    await shot(page, 'document');
    await accessible(audits, page.url(), 'document');

    // A provider (the built-in answerer) and its connection test, then a chatbot with a hostile
    // name, and the playground: the answer streams in without a page load, and its citation opens
    // the passage; the answer quotes the hostile document, and stays text.
    await page.click('.tabs a[href$="/providers"]');
    await page.fill('#provider-name', 'Offline answerer');
    await page.selectOption('#provider-kind', 'extractive');
    await page.click('form[action$="/providers"] button[type=submit]');
    await page.waitForURL(/\/providers\/[0-9a-f-]+$/);
    await page.click('form:has(input[value="test"]) button');
    check((await page.textContent('#test-result')).includes('ready'), 'the connection test reports');
    await shot(page, 'provider');
    await accessible(audits, page.url(), 'provider');
    await page.click('.tabs a[href$="/chatbots"]');
    const hostileBot = '<img src=x onerror="window.pwned=5"> Helper';
    await page.fill('#bot-name', hostileBot);
    await page.check('#tone-friendly');
    await page.fill('#bot-welcome', 'Ask me about leave.');
    await page.click('form[action$="/chatbots"] button[type=submit]');
    await page.waitForURL(/\/chatbots\/[0-9a-f-]+$/);
    const chatbotUrl = page.url();
    check((await page.textContent('h1')).includes(hostileBot), 'the chatbot name shown as text');
    check((await page.textContent('#prompt-preview')).includes('[1] A document'), 'the prompt preview');
    await shot(page, 'chatbot');
    await accessible(audits, page.url(), 'chatbot');
    await page.click('text=Open the playground');
    await page.waitForURL(/\/playground$/);
    await page.evaluate(() => { window.samePage = true; });
    await page.fill('#question', 'How long is parental leave?');
    await page.click('#ask button[type=submit]');
    await page.waitForSelector('#transcript li.assistant:last-child .sources a', { timeout: 60000 });
    check((await page.evaluate(() => window.samePage)) === true, 'the answer streamed into the page');
    check(page.url().includes('?conversation='), 'the conversation is in the address');
    const said = await page.textContent('#transcript li.assistant:last-child .said');
    check(said.includes('sixteen weeks'), `the answer quotes the passage: ${said}`);
    check((await page.locator('#transcript li.assistant:last-child .said a.marker').count()) >= 1, 'the marker links to its passage');
    check((await page.locator('#transcript script, #transcript img, #transcript a[href^="javascript"]').count()) === 0, 'nothing from the answer is markup');
    check((await page.evaluate(() => window.pwned)) === undefined, 'no script ran from the answer');
    await shot(page, 'playground');
    await accessible(audits, page.url(), 'playground');
    await page.click('#transcript li.assistant:last-child .sources a');
    await page.waitForURL(/passage=/);
    check((await page.textContent('.chunks li.cited')).includes('sixteen weeks'), 'the cited passage opens marked');
    await shot(page, 'passage');

    // An API key for the chatbot: its secret shown once, with a copy button.
    await page.goto(`${orgUrl}/keys`);
    await page.fill('#key-name', 'Website backend');
    await page.check('#bots-some');
    await page.check('.choices input[name="chatbots"]');
    await page.click('form:has(#key-name) button[type=submit]');
    const secret = await page.inputValue('#new-secret');
    check(secret.startsWith('dk_'), `the new key is shown: ${secret.slice(0, 8)}…`);
    await page.click('button[data-copy="new-secret"]');
    check(['Copied', 'Press Ctrl+C to copy'].includes(await page.textContent('button[data-copy]')), 'the copy button answers');
    await shot(page, 'api-key-created');
    await page.goto(`${orgUrl}/keys`);
    check(!(await page.content()).includes(secret), 'the secret is not shown again');
    check((await page.textContent('tbody')).includes('Website backend'), 'the key is listed');
    await shot(page, 'api-keys');
    await accessible(audits, `${orgUrl}/keys`, 'api-keys');

    // The widget on two other websites (other origins): one the publishable key allows, one it
    // does not. Answers stream in the allowed one, rendered from Markdown without markup or
    // images; the other is refused; the conversation survives a reload; the organization reads it.
    const site = (html) => new Promise((resolve) => {
      const server = http.createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(html);
      });
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
    const shopServer = await site('');
    const shopOrigin = `http://127.0.0.1:${shopServer.address().port}`;
    await page.fill('#pub-name', 'Shop widget');
    await page.fill('#pub-origins', shopOrigin);
    await page.click('form:has(#pub-name) button[type=submit]');
    const snippet = await page.inputValue('#new-embed');
    check(snippet.includes('data-key="dk_pub_'), 'the widget snippet carries a publishable key');
    await shot(page, 'publishable-key-created');
    const pageHtml = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Our shop</h1><p>Questions? Ask below.</p>${snippet}</body></html>`;
    shopServer.removeAllListeners('request');
    shopServer.on('request', (req, res) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(pageHtml); });
    const evilServer = await site(pageHtml);
    const evilOrigin = `http://127.0.0.1:${evilServer.address().port}`;
    try {
      const shop = await context.newPage();
      shop.on('pageerror', (error) => errors.push(`shop: ${error}`));
      const fetched = [];
      shop.on('request', (request) => fetched.push(request.url()));
      await shop.goto(shopOrigin);
      await shop.click('button.bubble');
      await shop.waitForFunction(() => {
        const root = document.querySelector('[data-docent-widget]').shadowRoot;
        return root.querySelector('header h2').textContent !== 'Chat';
      }, null, { timeout: 15000 });
      check((await shop.textContent('header h2')) === hostileBot, 'the widget shows the chatbot name as text');
      check((await shop.textContent('ol.log')).includes('Ask me about leave.'), 'the welcome message');
      await shop.fill('textarea', 'When are the alarms tested?');
      await shop.press('textarea', 'Enter');
      await shop.waitForSelector('ol.log li.assistant .sources li', { timeout: 60000 });
      const answer = await shop.textContent('ol.log li.assistant:last-child');
      check(answer.includes('first Friday'), `the widget's answer quotes the passage: ${answer}`);
      check(answer.includes('Apply here') && answer.includes('logo') && !answer.includes('!['), `link and image stay as their text: ${answer}`);
      check((await shop.locator('ol.log li.assistant strong').count()) >= 1, 'Markdown emphasis is rendered');
      check((await shop.locator('ol.log img, ol.log script, ol.log a[href^="javascript"]').count()) === 0, 'no markup, no image, no script link from the answer');
      check(!fetched.some((url) => url.includes('localhost:9/')), 'the answer\'s image was not loaded');
      check((await shop.evaluate(() => window.pwned)) === undefined, 'no script ran in the shop');
      await shot(shop, 'widget');
      await shop.reload();
      await shop.click('button.bubble');
      check((await shop.textContent('ol.log')).includes('When are the alarms tested?'), 'the conversation survives a reload');
      await shot(shop, 'widget-after-reload');
      await accessible(audits, shopOrigin, 'widget-page');
      const evil = await context.newPage();
      await evil.goto(evilOrigin);
      await evil.click('button.bubble');
      await evil.waitForSelector('ol.log li.error', { timeout: 15000 });
      check((await evil.textContent('ol.log li.error')).includes('not available'), 'another origin is refused');
      await shot(evil, 'widget-refused');
      await evil.close();
      await shop.close();
    } finally {
      shopServer.close();
      evilServer.close();
    }
    await page.goto(`${chatbotUrl}/visitors`);
    check((await page.textContent('main')).includes('When are the alarms tested?'), 'the visitor\'s conversation is in the console');
    await page.click('table a');
    check((await page.textContent('.transcript')).includes('first Friday'), 'the console shows the visitor\'s conversation');
    await shot(page, 'visitors');
    await accessible(audits, page.url(), 'visitors');
    await page.click('.tabs a[href$="/usage"]');
    check((await page.locator('svg.chart rect.bar').count()) === 60, 'two charts of 30 days');
    check((await page.textContent('main')).includes('Messages'), 'the quota table');
    await shot(page, 'usage');
    await accessible(audits, `${orgUrl}/usage`, 'usage');
    await page.goto(orgUrl);
    await page.click('.tabs a[href$="/members"]');
    await page.fill('#invite-email', 'colleague@example.com');
    await page.selectOption('#invite-role', 'viewer');
    await page.click('form:has(#invite-email) button');
    await page.waitForURL(`${orgUrl}/members`);
    check((await page.textContent('.flash')).includes('colleague@example.com'), 'the invitation is sent');
    check((await page.textContent('main')).includes('colleague@example.com'), 'the invitation is pending');
    await shot(page, 'org-members');
    await accessible(audits, `${orgUrl}/members`, 'org-members');
    await page.click('.tabs a[href$="/audit"]');
    await page.fill('#action', 'invitation.create');
    await page.click('form.filters button');
    check((await page.locator('tbody tr').count()) === 1, 'the log filtered to the invitation');
    await shot(page, 'org-audit');
    await accessible(audits, `${orgUrl}/audit`, 'org-audit');
    await page.click('.tabs a[href$="/settings"]');
    await page.fill('#confirm', 'not the name');
    await page.click('form:has(#confirm) button');
    check((await page.textContent('.error')).includes('Type the organization'), 'a mistyped confirmation is refused');
    await shot(page, 'org-settings');
    await accessible(audits, `${orgUrl}/settings`, 'org-settings');

    await page.click('form[action="/logout"] button');
    await page.waitForURL(`${base}/login`);
    check((await page.textContent('.flash')).includes('signed out'), 'the sign-out message');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', 'wrong password here');
    await page.click('button[type=submit]');
    check((await page.textContent('.error')).length > 0, 'a wrong password says why');
    await shot(page, 'login-refused');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);

    // A forgotten password, through the page the mail links to.
    await page.click('form[action="/logout"] button');
    await page.waitForURL(`${base}/login`);
    await page.click('a[href="/forgot-password"]');
    await shot(page, 'forgot-password');
    await accessible(audits, `${base}/forgot-password`, 'forgot-password');
    await page.fill('#email', 'ada@example.com');
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/login`);
    const link = await mailedLink('reset-password', 'dsr_', 'ada@example.com');
    await page.goto(link);
    await shot(page, 'reset-password');
    await accessible(audits, link, 'reset-password');
    await page.fill('#password', 'a brand new passphrase');
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/login`);
    check((await page.textContent('.flash')).includes('password is changed'), 'the reset is confirmed');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', 'a brand new passphrase');
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);

    // An invitation, accepted through its landing page by a newcomer who signs up on the way.
    const owner = await api('POST', '/v1/auth/signup', null, {
      email: 'owner@example.com', password: 'correct horse battery', name: 'Owner',
    });
    const org = await api('POST', '/v1/orgs', owner.session.token, { name: 'Depot' });
    await api('POST', `/v1/orgs/${org.id}/invitations`, owner.session.token, {
      email: 'grace@example.com', role: 'member',
    });
    const invitation = await mailedLink('accept-invitation', 'dsi_', 'grace@example.com');
    await page.click('form[action="/logout"] button');
    await page.waitForURL(`${base}/login`);
    await page.goto(invitation);
    await shot(page, 'accept-invitation');
    await accessible(audits, invitation, 'accept-invitation');
    await page.click('a[href^="/signup"]');
    await page.fill('#name', 'Grace');
    await page.fill('#email', 'grace@example.com');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForURL(invitation);
    await page.click('form[action="/accept-invitation"] button');
    await page.waitForURL(`${base}/`);
    check((await page.textContent('.flash')).includes('You joined Depot as member'), 'joined');
    check((await page.textContent('table')).includes('Depot'), 'the organization is listed');

    // The account page: profile, password and sessions.
    await page.click('a[href="/account"]');
    await page.waitForURL(`${base}/account`);
    check((await page.textContent('table')).includes('this session'), 'the session list');
    await shot(page, 'account');
    await audits.addCookies(await context.cookies());
    await accessible(audits, `${base}/account`, 'account');

    check(errors.length === 0, `the pages logged errors: ${errors.join(' | ')}`);
    console.log('browser: the console flow passed');
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(`browser: ${error.stack || error}`);
  process.exit(1);
});
