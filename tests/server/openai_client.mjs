// The official openai npm package against `r1wb serve` (started by run_openai_test.sh): the models list, a
// chat reply whole and streamed (reasoning_content apart from content, the same text both ways), the
// completions endpoint, and errors caught as openai.APIError (400 naming the field, 401 for a wrong key).
import assert from 'node:assert/strict';
import {createRequire} from 'node:module';
import path from 'node:path';

const modules = path.resolve(process.env.R1WB_NODE_MODULES);
const require = createRequire(path.join(path.dirname(modules), 'resolve-from-here.js'));
const OpenAI = require('openai');

const baseURL = `${process.env.R1WB_BASE_URL}/v1`;
const client = new OpenAI({baseURL, apiKey: process.env.R1WB_API_KEY, maxRetries: 0, timeout: 60000});

const countdown =
    'Using the numbers [1, 20, 5], create an equation that equals 95. You can use +, -, *, / and parentheses, ' +
    'and each number at most once. Show your reasoning in <think> </think> and give only the equation in ' +
    '<answer> </answer>, for example <answer>(1 + 2) / 3</answer>.';

async function main() {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  const model = models.data[0].id;
  assert.equal(model, 'r1-tiny');

  const request = {model, messages: [{role: 'user', content: countdown}], temperature: 0, max_tokens: 200};
  const chat = await client.chat.completions.create(request);
  const message = chat.choices[0].message;
  assert.equal(chat.object, 'chat.completion');
  assert.equal(chat.choices[0].finish_reason, 'stop');
  assert.equal(message.role, 'assistant');
  assert.equal(typeof message.reasoning_content, 'string', 'no reasoning_content apart from content');
  assert.ok(message.reasoning_content.length > 0, 'reasoning_content is empty');
  assert.ok(message.content.length > 0, 'content is empty');
  assert.ok(!message.content.includes('</think>') && !message.reasoning_content.includes('</think>'));
  assert.ok(chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens > 0);
  assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);
  assert.ok(chat.timings.predicted_ms > 0);

  const stream = await client.chat.completions.create({
    ...request,
    stream: true,
    stream_options: {include_usage: true},
  });
  let reasoning = '';
  let content = '';
  let finish = null;
  let usage = null;
  let deltas = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.delta.reasoning_content) reasoning += choice.delta.reasoning_content;
      if (choice.delta.content) content += choice.delta.content;
      if (choice.finish_reason) finish = choice.finish_reason;
      ++deltas;
    }
  }
  assert.ok(deltas > 2, `only ${deltas} stream deltas`);
  assert.equal(reasoning, message.reasoning_content);
  assert.equal(content, message.content);
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, chat.usage);

  const completion = await client.completions.create(
      {model, prompt: 'Using the numbers', max_tokens: 8, temperature: 0, ignore_eos: true});
  assert.equal(completion.object, 'text_completion');
  assert.ok(completion.choices[0].text.length > 0);
  assert.equal(completion.choices[0].finish_reason, 'length');
  assert.equal(completion.usage.completion_tokens, 8);

  await assert.rejects(
      client.chat.completions.create({...request, max_tokens: 4, frobnicate: true}), (err) => {
        assert.ok(err instanceof OpenAI.APIError, `not an APIError: ${err}`);
        assert.equal(err.status, 400);
        assert.equal(err.type, 'invalid_request_error');
        assert.equal(err.param, 'frobnicate');
        return true;
      });
  const stranger = new OpenAI({baseURL, apiKey: 'sk-wrong', maxRetries: 0});
  await assert.rejects(stranger.models.list(), (err) => {
    assert.ok(err instanceof OpenAI.APIError);
    assert.equal(err.status, 401);
    return true;
  });
  console.log('openai client: models, chat, chat stream, completions and errors all behave');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
