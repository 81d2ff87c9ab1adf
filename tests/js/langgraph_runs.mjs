// The LangGraph JS SDK against our Agent Protocol runs and assistants. Usage: node langgraph_runs.mjs <url>
// Prints one JSON line of what each call returned (the Python test asserts on it).
import { Client } from "@langchain/langgraph-sdk";

const client = new Client({ apiUrl: process.argv[2] });
const say = (text) => ({ messages: [{ role: "user", content: text }] });
const lastText = (values) => values.messages[values.messages.length - 1].content;
const out = {};

out.assistants = (await client.assistants.search({ limit: 10 })).map((a) => a.assistant_id);
out.assistant = await client.assistants.get("agent");

const { thread_id: tid } = await client.threads.create();
const run = await client.runs.create(tid, "agent", { input: say("echo js") });
out.joined = lastText(await client.runs.join(tid, run.run_id));
out.got = (await client.runs.get(tid, run.run_id)).status;

// a second run read partly, then resumed after the last event id seen
const controller = new AbortController();
let lastSeen = 0;
let resumedRun = null;
try {
  for await (const part of client.runs.stream(tid, "agent", {
    input: say("slow 20"), streamMode: ["values", "custom"], onDisconnect: "continue", signal: controller.signal,
    onRunCreated: ({ run_id }) => { resumedRun = run_id; },
  })) {
    if (part.id) lastSeen = Number(part.id);
    if (part.event === "custom") { controller.abort(); }
  }
} catch (error) {
  if (error.name !== "AbortError") throw error;
}
out.lastSeen = lastSeen;
const rest = [];
for await (const part of client.runs.joinStream(tid, resumedRun, { lastEventId: String(lastSeen) })) {
  rest.push(part);
}
out.resumedFirst = Number(rest.find((p) => p.id).id);
out.resumedLast = rest[rest.length - 1].event;
out.listed = (await client.runs.list(tid)).length;

out.stateless = lastText(await client.runs.wait(null, "agent", { input: say("echo stateless js") }));
const events = [];
for await (const part of client.runs.stream(null, "agent", { input: say("echo s"), streamMode: "values" })) {
  events.push(part.event);
}
out.statelessStream = events;

const slow = await client.runs.create(tid, "agent", { input: say("slow 100") });
for (let i = 0; i < 200 && (await client.runs.get(tid, slow.run_id)).status !== "running"; i++) {
  await new Promise((resolve) => setTimeout(resolve, 25));
}
await client.runs.cancel(tid, slow.run_id, true);
out.cancelled = (await client.runs.get(tid, slow.run_id)).status;

const asked = await client.runs.wait(tid, "agent", { input: say("record 7") });
const decision = { decisions: [{ type: "approve" }] };
out.interrupt = asked.__interrupt__[0].value.action_requests[0].name;
out.approved = lastText(await client.runs.wait(tid, "agent", { command: { resume: decision } })).replace("Result: ", "");
process.stdout.write(JSON.stringify(out) + "\n");
