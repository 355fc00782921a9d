"""The identity scripts/check-contract tests as: signs up a user on the docent at argv[1], creates
an organization, an API key on it, two more sessions and a second organization, and prints them as
shell assignments (DOCENT_TOKEN, DOCENT_ORG, DOCENT_API_KEY, DOCENT_LOGOUT_TOKEN,
DOCENT_SESSIONS_TOKEN, DOCENT_DOOMED_ORG). Standard library only."""

import json
import secrets
import shlex
import sys
import urllib.request

BASE = sys.argv[1].rstrip("/")


def call(method, path, body=None, token=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


email = f"contract-{secrets.token_hex(4)}@example.com"
password = "Contract-" + secrets.token_urlsafe(12)
token = call("POST", "/v1/auth/signup", {"email": email, "password": password, "name": "Contract"})["session"]["token"]
org = call("POST", "/v1/orgs", {"name": "Contract"}, token)["id"]
key = call(
    "POST",
    f"/v1/orgs/{org}/api-keys",
    {"name": "contract", "scopes": ["chat", "chatbots:read", "documents:read"]},
    token,
)["key"]
logout_token = call("POST", "/v1/auth/login", {"email": email, "password": password})["session"]["token"]
sessions_token = call("POST", "/v1/auth/login", {"email": email, "password": password})["session"]["token"]
doomed = call("POST", "/v1/orgs", {"name": "Doomed"}, token)["id"]

for name, value in [
    ("DOCENT_TOKEN", token),
    ("DOCENT_ORG", org),
    ("DOCENT_API_KEY", key),
    ("DOCENT_LOGOUT_TOKEN", logout_token),
    ("DOCENT_SESSIONS_TOKEN", sessions_token),
    ("DOCENT_DOOMED_ORG", doomed),
]:
    print(f"export {name}={shlex.quote(value)}")
