"""Talks to docent's /v1/chat/completions with the official OpenAI Python SDK (PyPI `openai`): one
complete answer, one streamed answer with usage, and an unknown model. Prints a JSON summary for
the end-to-end test to check. Usage: openai-sdk-check.py BASE_URL API_KEY MODEL QUESTION"""

import json
import sys

import openai

base_url, api_key, model, question = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
messages = [{"role": "user", "content": question}]

done = client.chat.completions.create(model=model, messages=messages)
extra = done.model_extra or {}

text, finish, usage, citations = "", None, None, None
stream = client.chat.completions.create(
    model=model, messages=messages, stream=True, stream_options={"include_usage": True}
)
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage.model_dump()
    for choice in chunk.choices:
        if choice.delta.content:
            text += choice.delta.content
        if choice.finish_reason:
            finish = choice.finish_reason
    found = (chunk.model_extra or {}).get("citations")
    if found:
        citations = found

try:
    client.chat.completions.create(model="no-such-chatbot", messages=messages)
    not_found = None
except openai.NotFoundError as error:
    not_found = error.status_code

print(
    json.dumps(
        {
            "content": done.choices[0].message.content,
            "finish": done.choices[0].finish_reason,
            "usage": done.usage.model_dump() if done.usage else None,
            "citations": extra.get("citations"),
            "stream_text": text,
            "stream_finish": finish,
            "stream_usage": usage,
            "stream_citations": citations,
            "not_found": not_found,
        }
    )
)
