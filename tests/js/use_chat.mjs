// Drives POST /api/chat the way a useChat front end does: the AI SDK's own Chat (AbstractChat, the class
// useChat wraps), its DefaultChatTransport and its UI message stream parser. Usage:
//   node use_chat.mjs <server url> '<json list of turns: {text, body?}>'
// Prints one JSON line: every turn's chat status, error text and the messages the SDK built.
import { AbstractChat, DefaultChatTransport } from "ai";

class MemoryChatState { // what @ai-sdk/react keeps in React state, kept in memory here
  constructor() { this.messages = []; this.status = "ready"; this.error = undefined; }
  pushMessage(message) { this.messages = this.messages.concat(message); }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), this.snapshot(message), ...this.messages.slice(index + 1)];
  }
  snapshot(value) { return structuredClone(value); }
}

class Chat extends AbstractChat {
  constructor(options) { super({ ...options, state: new MemoryChatState() }); }
}

const [url, turnsJson] = process.argv.slice(2);
const errors = [];
const chat = new Chat({
  id: `use-chat-${Date.now()}`,
  transport: new DefaultChatTransport({ api: `${url}/api/chat` }),
  onError: (error) => errors.push(String(error && error.message || error)),
});
const turns = [];
for (const turn of JSON.parse(turnsJson)) {
  errors.length = 0;
  await chat.sendMessage({ text: turn.text }, turn.body ? { body: turn.body } : undefined);
  turns.push({ status: chat.status, error: chat.error ? String(chat.error.message) : null,
               errors: [...errors], messages: structuredClone(chat.messages) });
}
process.stdout.write(JSON.stringify({ chatId: chat.id, turns }) + "\n");
