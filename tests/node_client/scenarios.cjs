// The official Node openai client against the gateway, one scenario per run:
//   node scenarios.cjs <scenario>   (GATEWAY_URL, GATEWAY_KEY in the environment)
// Prints one JSON object: what the client saw, for the Python test to assert on.
// CommonJS so NODE_PATH (tools/node_modules, where `make` installs the client) resolves it.
const OpenAI = require("openai");

const client = new OpenAI({ baseURL: process.env.GATEWAY_URL, apiKey: process.env.GATEWAY_KEY, maxRetries: 0, timeout: 30000 });
const user = (content) => [{ role: "user", content }];
const lookup = { type: "function", function: { name: "lookup_order", parameters: { type: "object", properties: { order_id: { type: "string" } }, required: ["order_id"] } } };

async function collect(stream) {
  let content = "";
  let finish = null;
  const calls = {};
  let extension = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      content += choice.delta.content || "";
      finish = choice.finish_reason || finish;
      if (choice.delta.agentgateway) extension = choice.delta.agentgateway;
      for (const part of choice.delta.tool_calls || []) {
        const call = (calls[part.index] ||= { id: "", name: "", arguments: "" });
        call.id += part.id || "";
        call.name += (part.function && part.function.name) || "";
        call.arguments += (part.function && part.function.arguments) || "";
      }
    }
  }
  return { content, finish, calls: Object.values(calls), extension };
}

const scenarios = {
  async chat() {
    const reply = await client.chat.completions.create({ model: "default/weather", messages: user("Hi") });
    return { content: reply.choices[0].message.content, finish: reply.choices[0].finish_reason, usage: reply.usage };
  },
  async stream() {
    return collect(await client.chat.completions.create({ model: "default/weather", messages: user("Hi"), stream: true }));
  },
  async client_tool() {
    const reply = await client.chat.completions.create({ model: "default/weather", messages: user("order 7?"), tools: [lookup], tool_choice: { type: "function", function: { name: "lookup_order" } } });
    const message = reply.choices[0].message;
    return { finish: reply.choices[0].finish_reason, calls: message.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) };
  },
  async client_tool_stream() {
    return collect(await client.chat.completions.create({ model: "default/weather", messages: user("order 7?"), tools: [lookup], tool_choice: "required", stream: true }));
  },
  async approval() {
    const paused = await client.chat.completions.create({ model: "default/approver", messages: user("close 42") });
    const choice = paused.choices[0];
    const approval = choice.message.agentgateway.approval;
    const resumed = await client.post(`/approvals/${approval.id}`, { body: { approve: true } });
    return { finish: choice.finish_reason, approval_id: approval.id, tools: approval.calls.map((c) => c.name), resumed: resumed.choices[0].message.content };
  },
  async workflow_stream() {
    return collect(await client.chat.completions.create({ model: "labs/support", messages: user("I want to return my phone"), stream: true }));
  },
  async responses_stream() {
    const stream = await client.responses.create({ model: "default/weather", input: "Count to four", stream: true });
    const events = [];
    let text = "";
    let final = null;
    for await (const event of stream) {
      events.push({ type: event.type, sequence_number: event.sequence_number, output_index: event.output_index ?? null, item_id: event.item_id ?? (event.item && event.item.id) ?? null });
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed") final = event.response;
    }
    const kept = await client.responses.retrieve(final.id);
    const messageText = (response) =>
      response.output.filter((o) => o.type === "message").flatMap((o) => o.content).map((p) => p.text).join("");
    return { events, text, final_text: messageText(final), status: final.status, kept_text: kept.output_text, kept_item_ids: kept.output.map((o) => o.id) };
  },
  async conversation() {
    const conversation = await client.conversations.create({ metadata: { from: "node" }, items: [{ role: "user", content: "I live in Oslo." }] });
    const reply = await client.responses.create({ model: "default/weather", input: "Weather where I live?", conversation: conversation.id });
    const items = [];
    for await (const item of client.conversations.items.list(conversation.id, { order: "asc", limit: 1 })) items.push([item.type, item.role, item.content[0].text]);
    const deleted = await client.conversations.delete(conversation.id);
    return { id: conversation.id, object: conversation.object, metadata: conversation.metadata, reply: reply.output_text, items, deleted };
  },
  async not_found() {
    try {
      await client.chat.completions.create({ model: "default/nope", messages: user("hi") });
      return { raised: false };
    } catch (error) {
      return { raised: true, status: error.status, code: error.code, is_not_found: error instanceof OpenAI.NotFoundError };
    }
  },
};

scenarios[process.argv[2]]()
  .then((result) => process.stdout.write(JSON.stringify(result)))
  .catch((error) => {
    process.stdout.write(JSON.stringify({ crashed: String(error && error.stack ? error.stack : error) }));
    process.exitCode = 1;
  });
