// The official MCP TypeScript SDK client runs the whole flow against the local server, on each
// store backend: first 401 -> protected resource metadata -> AS metadata -> dynamic
// registration -> sign-up and consent on the real forms -> token -> initialize -> tools.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { ScriptedBrowser, baseUrls, uniqueEmail } from './browser.mjs';

/** An OAuthClientProvider that keeps everything in memory, like a CLI client would. */
class MemoryProvider {
  constructor(redirectUrl, authMethod) {
    this._redirectUrl = redirectUrl;
    this._authMethod = authMethod;
    this.authorizationUrl = undefined;
  }
  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'sdk-test',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: this._authMethod,
    };
  }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; }
  redirectToAuthorization(url) { this.authorizationUrl = url; }
  saveCodeVerifier(verifier) { this._verifier = verifier; }
  codeVerifier() { return this._verifier; }
}

async function connect(base, provider, browser, email) {
  const url = new URL('/mcp', base);
  const client = new Client({ name: 'sdk-test', version: '1.0.0' });
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  await assert.rejects(client.connect(first), UnauthorizedError, 'the first connection must ask for authorization');
  assert.ok(provider.authorizationUrl, 'the SDK did not start authorization');
  const auth = provider.authorizationUrl;
  assert.equal(auth.origin, new URL(base).origin);
  assert.equal(auth.pathname, '/authorize');
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(auth.searchParams.get('resource'), url.href);
  const callback = await browser.signUpAndApprove(auth.href, email);
  assert.equal(callback.searchParams.get('iss'), new URL(base).origin);
  await first.finishAuth(callback.searchParams.get('code'));
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  await client.connect(transport);
  return client;
}

for (const { backend, url: base } of baseUrls()) {
  describe(`TypeScript SDK against the ${backend} store`, () => {
    for (const method of ['none', 'client_secret_post']) {
      it(`runs discovery, registration (${method}), sign-in, tokens and the memory tools`, async () => {
        const provider = new MemoryProvider('http://127.0.0.1:33418/callback', method);
        const client = await connect(base, provider, new ScriptedBrowser(base), uniqueEmail('sdk'));
        assert.equal(provider.clientInformation().token_endpoint_auth_method, method);
        assert.equal(Boolean(provider.clientInformation().client_secret), method !== 'none');
        assert.ok(provider.tokens().refresh_token, 'a refresh token is issued without offline_access');

        const { tools } = await client.listTools();
        assert.deepEqual(tools.map((t) => t.name).sort(),
          ['add_memories', 'delete_all_memories', 'delete_memories', 'list_memories', 'search_memory']);

        const added = await client.callTool({ name: 'add_memories', arguments: { text: ['I take my coffee black', 'My sister is called Grace'] } });
        assert.equal(added.isError, false);
        const ids = added.structuredContent.ids;
        assert.equal(ids.length, 2);

        const found = await client.callTool({ name: 'search_memory', arguments: { query: 'how do I take coffee' } });
        assert.equal(found.structuredContent.results[0].text, 'I take my coffee black');

        const listed = await client.callTool({ name: 'list_memories', arguments: {} });
        assert.deepEqual(listed.structuredContent.memories.map((m) => m.id), [...ids].reverse());

        const deleted = await client.callTool({ name: 'delete_memories', arguments: { ids: [ids[0]] } });
        assert.deepEqual(deleted.structuredContent.deleted, [ids[0]]);
        const rest = await client.callTool({ name: 'list_memories', arguments: {} });
        assert.equal(rest.structuredContent.memories.length, 1);
        await client.close();
      });
    }
  });
}
