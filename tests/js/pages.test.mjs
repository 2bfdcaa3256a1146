// A real browser (Debian chromium via playwright-core) signs up, signs in and approves on the
// real pages; each page is photographed into target/screenshots and the test asserts on what
// a person sees.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, before, describe, it } from 'node:test';

import { chromium } from 'playwright-core';

import { PASSWORD, baseUrls, pkce, uniqueEmail } from './browser.mjs';

const shots = new URL('../../target/screenshots/', import.meta.url).pathname;
mkdirSync(shots, { recursive: true });

/** A loopback callback like Claude Code's: records the query it receives. */
function callbackServer() {
  const hits = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/callback') hits.push(url);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Connected. You can close this window.</h1>');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, hits, port: server.address().port })));
}

async function register(base, port) {
  const response = await fetch(new URL('/register', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Claude Code',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  assert.equal(response.status, 201);
  return response.json();
}

function authorizeUrl(base, client, port, challenge) {
  const url = new URL('/authorize', base);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: `http://127.0.0.1:${port}/callback`,
    code_challenge: challenge, code_challenge_method: 'S256', state: 'xyz', scope: 'memories:read memories:write',
  }).toString();
  return url.href;
}

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});
after(async () => { await browser?.close(); });

for (const { backend, url: base } of baseUrls()) {
  describe(`the sign-in pages in Chromium (${backend} store)`, () => {
    it('sign up, approve, then sign in again with consent remembered', async () => {
      const { server, hits, port } = await callbackServer();
      try {
        const client = await register(base, port);
        const email = uniqueEmail('browser');

        const first = await browser.newContext();
        const page = await first.newPage();
        await page.goto(authorizeUrl(base, client, port, pkce().challenge));
        assert.equal(await page.locator('h1').innerText(), 'Sign in to Memory');
        assert.match(await page.locator('main').innerText(), /Claude Code wants to use your memories/);
        await page.screenshot({ path: `${shots}${backend}-1-sign-in.png` });

        await page.getByRole('link', { name: 'Create one' }).click();
        assert.equal(await page.locator('h1').innerText(), 'Create your Memory account');
        await page.getByLabel('Email').fill(email);
        await page.getByLabel('Password').fill(PASSWORD);
        await page.screenshot({ path: `${shots}${backend}-2-sign-up.png` });
        await page.getByRole('button', { name: 'Create account' }).click();

        await page.waitForSelector('text=Allow Claude Code to use your memories?');
        const consent = await page.locator('main').innerText();
        assert.match(consent, new RegExp(`Signed in as ${email.replace('.', '\\.')}`));
        assert.match(consent, /Read and search your memories/);
        assert.match(consent, /Add and delete your memories/);
        assert.match(consent, /sent to 127\.0\.0\.1/);
        await page.screenshot({ path: `${shots}${backend}-3-consent.png` });
        await page.getByRole('button', { name: 'Allow' }).click();
        await page.waitForSelector('text=Connected');
        assert.equal(hits.length, 1);
        assert.ok(hits[0].searchParams.get('code'));
        assert.equal(hits[0].searchParams.get('state'), 'xyz');
        assert.equal(hits[0].searchParams.get('iss'), new URL(base).origin);
        await first.close();

        // A new browser session: sign in; the consent is remembered, so no consent page.
        const second = await browser.newContext();
        const again = await second.newPage();
        await again.goto(authorizeUrl(base, client, port, pkce().challenge));
        await again.getByLabel('Email').fill(email);
        await again.getByLabel('Password').fill('not my password');
        await again.getByRole('button', { name: 'Sign in' }).click();
        assert.match(await again.locator('[role=alert]').innerText(), /Wrong email or password/);
        await again.screenshot({ path: `${shots}${backend}-4-wrong-password.png` });
        await again.getByLabel('Password').fill(PASSWORD);
        await again.getByRole('button', { name: 'Sign in' }).click();
        await again.waitForSelector('text=Connected');
        assert.equal(hits.length, 2);
        assert.ok(hits[1].searchParams.get('code'));
        await second.close();
      } finally {
        server.close();
      }
    });

    it('shows an error page, and never redirects, for an unknown client', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const response = await page.goto(new URL('/authorize?response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example%2Fcb', base).href);
      assert.equal(response.status(), 400);
      assert.equal(new URL(page.url()).origin, new URL(base).origin);
      assert.equal(await page.locator('h1').innerText(), 'This sign-in request cannot continue');
      await page.screenshot({ path: `${shots}${backend}-5-error.png` });
      await context.close();
    });

    it('lists the connected application on /account and disconnects it', async () => {
      const { server, port } = await callbackServer();
      try {
        const client = await register(base, port);
        const email = uniqueEmail('account');
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(authorizeUrl(base, client, port, pkce().challenge));
        await page.getByRole('link', { name: 'Create one' }).click();
        await page.getByLabel('Email').fill(email);
        await page.getByLabel('Password').fill(PASSWORD);
        await page.getByRole('button', { name: 'Create account' }).click();
        await page.getByRole('button', { name: 'Allow' }).click();
        await page.waitForSelector('text=Connected');

        await page.goto(new URL('/account', base).href);
        assert.equal(await page.locator('h1').innerText(), 'Connected applications');
        const listed = await page.locator('main').innerText();
        assert.match(listed, new RegExp(`Signed in as ${email.replace('.', '\\.')}`));
        assert.match(listed, /Claude Code/);
        assert.match(listed, /Read and search your memories; Add and delete your memories/);
        await page.screenshot({ path: `${shots}${backend}-6-account.png` });
        await page.getByRole('button', { name: 'Disconnect' }).click();
        await page.waitForSelector('text=The application was disconnected.');
        assert.doesNotMatch(await page.locator('main').innerText(), /Claude Code/);
        await page.screenshot({ path: `${shots}${backend}-7-disconnected.png` });

        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.waitForSelector('text=Sign in to see and disconnect');
        await context.close();
      } finally {
        server.close();
      }
    });
  });
}
