"""The official MCP Python SDK client runs the whole flow against the local server, on each
store backend: first 401 -> discovery -> registration -> sign-up and consent on the real forms
-> token -> (server/discover or initialize) -> tools/list -> add -> search -> list -> delete."""

import html
import os
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

PASSWORD = "correct horse battery"
REDIRECT = "http://127.0.0.1:33419/callback"


def base_urls():
    raw = os.environ.get("MCP_TEST_BASE_URLS")
    if not raw:
        raise RuntimeError("MCP_TEST_BASE_URLS is not set: run the tests with tests/run")
    return [tuple(entry.split("=", 1)) for entry in raw.split()]


class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def hidden_inputs(page: str) -> dict[str, str]:
    form = page.split("<form", 1)[1].split("</form>", 1)[0]
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form):
        if 'type="hidden"' not in tag:
            continue
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1))
    return fields


async def sign_up_and_approve(base: str, authorization_url: str, email: str) -> dict[str, list[str]]:
    """Plays the person's browser on the real pages; returns the redirect's query."""
    async with httpx2.AsyncClient(base_url=base, follow_redirects=False) as browser:
        sign_in = await browser.get(authorization_url)
        assert sign_in.status_code == 200, sign_in.text
        link = re.search(r'href="(/authorize\?[^"]*)"', sign_in.text)
        assert link, "no sign-up link"
        sign_up = await browser.get(html.unescape(link.group(1)))
        form = {**hidden_inputs(sign_up.text), "email": email, "password": PASSWORD}
        consent = await browser.post("/authorize", data=form)
        assert consent.status_code == 200, consent.text
        back = await browser.post("/authorize", data={**hidden_inputs(consent.text), "decision": "allow"})
        assert back.status_code == 302, back.text
        location = back.headers["location"]
        assert location.startswith(REDIRECT + "?"), location
        return parse_qs(urlparse(location).query)


@pytest.mark.parametrize("backend,base", base_urls())
@pytest.mark.parametrize("method", ["none", "client_secret_post"])
async def test_python_sdk_runs_the_whole_flow(backend: str, base: str, method: str):
    mcp_url = f"{base}/mcp"
    storage = MemoryStorage()
    seen: dict[str, object] = {}

    async def redirect_handler(url: str) -> None:
        seen["authorization_url"] = url
        seen["query"] = await sign_up_and_approve(base, url, f"py-{secrets.token_hex(6)}@example.com")

    async def callback_handler() -> AuthorizationCodeResult:
        query = seen["query"]
        return AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0], iss=query["iss"][0])

    auth = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="python-sdk-test",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method=method,
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(mcp_url, http_client=http)) as client:
            query = parse_qs(urlparse(str(seen["authorization_url"])).query)
            assert query["resource"] == [mcp_url]
            assert query["code_challenge_method"] == ["S256"]
            assert storage.client.token_endpoint_auth_method == method
            assert (storage.client.client_secret is not None) == (method != "none")
            assert storage.tokens.refresh_token

            tools = await client.list_tools()
            names = sorted(t.name for t in tools.tools)
            assert names == ["add_memories", "delete_all_memories", "delete_memories", "list_memories", "search_memory"]

            added = await client.call_tool("add_memories", {"text": ["I run on Tuesday mornings", "My favourite colour is teal"]})
            assert not added.is_error
            ids = added.structured_content["ids"]
            assert len(ids) == 2

            found = await client.call_tool("search_memory", {"query": "favourite colour"})
            assert found.structured_content["results"][0]["text"] == "My favourite colour is teal"

            listed = await client.call_tool("list_memories", {})
            assert [m["id"] for m in listed.structured_content["memories"]] == list(reversed(ids))

            deleted = await client.call_tool("delete_memories", {"ids": ids})
            assert sorted(deleted.structured_content["deleted"]) == sorted(ids)
            empty = await client.call_tool("list_memories", {})
            assert empty.structured_content["memories"] == []
