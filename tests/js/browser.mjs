// Helpers shared by the client tests: the base URLs under test, and a scripted "browser" that
// fills in the real sign-in, sign-up and consent forms with fetch (cookies kept by hand).
import { createHash, randomBytes } from 'node:crypto';

/** The local servers under test, one per store backend (set by tests/run). */
export function baseUrls() {
  const raw = process.env.MCP_TEST_BASE_URLS;
  if (!raw) throw new Error('MCP_TEST_BASE_URLS is not set: run the tests with tests/run');
  return raw.split(/\s+/).filter(Boolean).map((entry) => {
    const [backend, url] = entry.split('=');
    return { backend, url };
  });
}

export function uniqueEmail(prefix) {
  return `${prefix}-${randomBytes(6).toString('hex')}@example.com`;
}

export const PASSWORD = 'correct horse battery';

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

function unescape(text) {
  return text.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

/** The hidden inputs of the first form of a page. */
export function hiddenInputs(html) {
  const form = html.split('<form')[1]?.split('</form>')[0] ?? '';
  const fields = {};
  for (const tag of form.split('<input').slice(1)) {
    if (!tag.includes('type="hidden"')) continue;
    const name = /name="([^"]*)"/.exec(tag)?.[1];
    const value = /value="([^"]*)"/.exec(tag)?.[1];
    if (name !== undefined && value !== undefined) fields[unescape(name)] = unescape(value);
  }
  return fields;
}

/** A cookie-keeping client that never follows redirects. */
export class ScriptedBrowser {
  constructor(origin) {
    this.origin = origin;
    this.cookies = new Map();
  }

  async request(url, init = {}) {
    const headers = new Headers(init.headers ?? {});
    if (this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const response = await fetch(new URL(url, this.origin), { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, ...rest] = pair.split('=');
      this.cookies.set(name.trim(), rest.join('='));
    }
    const body = await response.text();
    return { status: response.status, location: response.headers.get('location'), body, headers: response.headers };
  }

  get(url) {
    return this.request(url);
  }

  submit(page, fields) {
    const form = new URLSearchParams({ ...hiddenInputs(page.body), ...fields });
    return this.request('/authorize', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
  }

  /** Signs up on the real pages and approves; returns the redirect's URL. */
  async signUpAndApprove(authorizationUrl, email) {
    const signIn = await this.get(authorizationUrl);
    if (signIn.status !== 200) throw new Error(`authorize: ${signIn.status} ${signIn.body}`);
    const link = /href="(\/authorize\?[^"]*)"/.exec(signIn.body)?.[1];
    if (!link) throw new Error('no sign-up link on the sign-in page');
    const signUp = await this.get(unescape(link));
    const consent = await this.submit(signUp, { email, password: PASSWORD });
    if (consent.status !== 200) throw new Error(`sign-up: ${consent.status} ${consent.body}`);
    const back = await this.submit(consent, { decision: 'allow' });
    if (back.status !== 302) throw new Error(`consent: ${back.status} ${back.body}`);
    return new URL(back.location);
  }
}
