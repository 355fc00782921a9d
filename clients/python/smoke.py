"""The clients' smoke flow with the Python client openapi-python-client generates from
openapi/openapi.json (scripts/check-clients generates it as the package `docent_client` and runs
this against the live docent at $DOCENT_URL): sign up, create an organization, upload a text
file, wait until it is ready, create a chatbot, ask, read the citations, stream an answer."""

import json
import os
import secrets
import sys
import time

from docent_client import AuthenticatedClient, Client
from docent_client.api.auth import auth_signup
from docent_client.api.chatbots import chatbot_create, conversation_create, message_create
from docent_client.api.documents import document_create, document_get
from docent_client.api.orgs import org_create
from docent_client.api.providers import provider_create
from docent_client.models import (
    AskRequest,
    CreateChatbotRequest,
    CreateConversationRequest,
    CreateOrgRequest,
    CreateProviderRequest,
    DocumentCreateBody,
    DocumentStatusDto,
    ProviderKindDto,
    SignupRequest,
)
from docent_client.types import File

BASE = os.environ["DOCENT_URL"]
TEXT = (
    "The Aurora espresso machine heats up in 25 seconds. "
    "Descale the Aurora every 200 cups with citric acid; the descaling cycle takes 12 minutes."
)


def step(name: str) -> None:
    print(f"python smoke: {name}", flush=True)


def expect(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"python smoke: FAILED: {what}")


step("sign up")
signup = auth_signup.sync(
    client=Client(base_url=BASE),
    body=SignupRequest(
        email=f"py-{secrets.token_hex(4)}@example.com",
        password="Python-" + secrets.token_urlsafe(12),
        name="Python client",
    ),
)
expect(hasattr(signup, "session"), f"sign-up answered {signup!r}")
client = AuthenticatedClient(base_url=BASE, token=signup.session.token)

step("create an organization")
org = org_create.sync(client=client, body=CreateOrgRequest(name="Python smoke"))
expect(hasattr(org, "slug"), f"org_create answered {org!r}")

step("upload a text document")
upload = DocumentCreateBody(
    file=File(payload=TEXT.encode(), file_name="aurora.txt", mime_type="text/plain"),
    title="Aurora manual",
)
document = document_create.sync(org.id, client=client, body=upload)
expect(hasattr(document, "status"), f"document_create answered {document!r}")

step("wait until it is ready")
deadline = time.monotonic() + 120
while document.status != DocumentStatusDto.READY:
    expect(document.status != DocumentStatusDto.FAILED, f"the document failed: {document.error!r}")
    expect(time.monotonic() < deadline, f"the document is still {document.status}")
    time.sleep(0.3)
    document = document_get.sync(org.id, document.id, client=client)
expect(document.chunk_count >= 1, "the ready document has no chunks")

step("create a chatbot")
provider = provider_create.sync(
    org.id, client=client, body=CreateProviderRequest(name="Built-in", kind=ProviderKindDto.EXTRACTIVE)
)
expect(hasattr(provider, "kind"), f"provider_create answered {provider!r}")
chatbot = chatbot_create.sync(
    org.id, client=client, body=CreateChatbotRequest(name="Aurora help", provider_id=provider.id)
)
expect(hasattr(chatbot, "temperature"), f"chatbot_create answered {chatbot!r}")
started = conversation_create.sync(org.id, chatbot.id, client=client, body=CreateConversationRequest())
expect(hasattr(started, "conversation"), f"conversation_create answered {started!r}")
conversation = started.conversation

step("ask and read the citations")
question = "How often should the Aurora be descaled?"
answer = message_create.sync(org.id, chatbot.id, conversation.id, client=client, body=AskRequest(content=question))
expect(hasattr(answer, "message"), f"message_create answered {answer!r}")
citations = answer.message.citations
expect(len(citations) >= 1, f"the answer cites nothing: {answer.message.content!r}")
expect(citations[0].document_id == document.id, "the citation is not the uploaded document")
expect("200 cups" in citations[0].snippet, f"the cited passage is {citations[0].snippet!r}")

step("stream an answer")
# The generated client parses JSON; Server-Sent Events are read from its httpx client.
events = []
path = f"/v1/orgs/{org.id}/chatbots/{chatbot.id}/conversations/{conversation.id}/messages"
body = AskRequest(content=question, stream=True).to_dict()
with client.get_httpx_client().stream("POST", path, json=body, timeout=60) as response:
    expect(response.status_code == 200, f"the stream answered {response.status_code}")
    event = None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:") and event:
            events.append((event, json.loads(line.removeprefix("data:"))))
names = [name for name, _ in events]
expect("delta" in names, f"no delta event in {names}")
expect(names[-1] == "done", f"the stream did not end with done: {names}")
streamed_citations = [data for name, data in events if name == "citations"]
expect(
    streamed_citations and streamed_citations[0]["citations"][0]["document_id"] == str(document.id),
    "the streamed citations do not name the document",
)
print("python smoke: the whole flow passed", flush=True)
