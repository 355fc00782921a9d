// The clients' smoke flow with the TypeScript client @hey-api/openapi-ts generates from
// openapi/openapi.json (scripts/check-clients generates it into ./gen, compiles both with
// TypeScript 5 and runs this with Node.js against the live docent at $DOCENT_URL): sign up, create
// an organization, upload a text file, wait until it is ready, create a chatbot, ask, read the
// citations, stream an answer.

import { createClient, createConfig } from './gen/client';
import {
  authSignup,
  chatbotCreate,
  conversationCreate,
  documentCreate,
  documentGet,
  messageCreate,
  orgCreate,
  providerCreate,
} from './gen/sdk.gen';

const base = process.env.DOCENT_URL ?? '';
const text =
  'The Aurora espresso machine heats up in 25 seconds. ' +
  'Descale the Aurora every 200 cups with citric acid; the descaling cycle takes 12 minutes.';

function step(name: string): void {
  console.log(`typescript smoke: ${name}`);
}

function expect(condition: unknown, what: string): asserts condition {
  if (!condition) {
    console.error(`typescript smoke: FAILED: ${what}`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const anonymous = createClient(createConfig({ baseUrl: base }));
  step('sign up');
  const suffix = Math.random().toString(16).slice(2, 10);
  const signup = await authSignup({
    client: anonymous,
    body: { email: `ts-${suffix}@example.com`, password: `TypeScript-${suffix}-x`, name: 'TypeScript client' },
  });
  expect(signup.data, `sign-up answered ${JSON.stringify(signup.error)}`);
  const client = createClient(createConfig({ baseUrl: base, auth: signup.data.session.token }));

  step('create an organization');
  const org = await orgCreate({ client, body: { name: 'TypeScript smoke' } });
  expect(org.data, `org_create answered ${JSON.stringify(org.error)}`);
  const org_id = org.data.id;

  step('upload a text document');
  const uploaded = await documentCreate({
    client,
    path: { org_id },
    body: { file: new Blob([text], { type: 'text/plain' }), title: 'Aurora manual', tags: [] },
  });
  expect(uploaded.data, `document_create answered ${JSON.stringify(uploaded.error)}`);
  let document = uploaded.data;

  step('wait until it is ready');
  const deadline = Date.now() + 120_000;
  while (document.status !== 'ready') {
    expect(document.status !== 'failed', `the document failed: ${JSON.stringify(document.error)}`);
    expect(Date.now() < deadline, `the document is still ${document.status}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const polled = await documentGet({ client, path: { org_id, document_id: document.id } });
    expect(polled.data, `document_get answered ${JSON.stringify(polled.error)}`);
    document = polled.data;
  }
  expect(document.chunk_count >= 1, 'the ready document has no chunks');

  step('create a chatbot');
  const provider = await providerCreate({ client, path: { org_id }, body: { name: 'Built-in', kind: 'extractive' } });
  expect(provider.data, `provider_create answered ${JSON.stringify(provider.error)}`);
  const chatbot = await chatbotCreate({
    client,
    path: { org_id },
    body: { name: 'Aurora help', provider_id: provider.data.id },
  });
  expect(chatbot.data, `chatbot_create answered ${JSON.stringify(chatbot.error)}`);
  const chatbot_id = chatbot.data.id;
  const conversation = await conversationCreate({ client, path: { org_id, chatbot_id }, body: {} });
  expect(conversation.data, `conversation_create answered ${JSON.stringify(conversation.error)}`);
  const path = { org_id, chatbot_id, conversation_id: conversation.data.conversation.id };

  step('ask and read the citations');
  const question = 'How often should the Aurora be descaled?';
  const answer = await messageCreate({ client, path, body: { content: question } });
  expect(answer.data, `message_create answered ${JSON.stringify(answer.error)}`);
  const citations = answer.data.message.citations;
  expect(citations.length >= 1, `the answer cites nothing: ${answer.data.message.content}`);
  expect(citations[0].document_id === document.id, 'the citation is not the uploaded document');
  expect(citations[0].snippet.includes('200 cups'), `the cited passage is ${citations[0].snippet}`);

  step('stream an answer');
  // The client hands back the body as a stream; the events are read from it.
  const streamed = await messageCreate({ client, path, body: { content: question, stream: true }, parseAs: 'stream' });
  expect(streamed.response.status === 200, `the stream answered ${streamed.response.status}`);
  const body = await new Response(streamed.data as unknown as ReadableStream).text();
  const events: Array<[string, unknown]> = [];
  let event = '';
  for (const line of body.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:') && event) events.push([event, JSON.parse(line.slice(5))]);
  }
  const names = events.map(([name]) => name);
  expect(names.includes('delta'), `no delta event in ${names.join(', ')}`);
  expect(names[names.length - 1] === 'done', `the stream did not end with done: ${names.join(', ')}`);
  const cited = events.find(([name]) => name === 'citations')?.[1] as { citations: Array<{ document_id: string }> };
  expect(cited?.citations[0]?.document_id === document.id, 'the streamed citations do not name the document');
  console.log('typescript smoke: the whole flow passed');
}

main().catch((error: unknown) => {
  console.error('typescript smoke: FAILED:', error);
  process.exit(1);
});
