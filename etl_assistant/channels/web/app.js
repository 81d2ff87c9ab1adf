// The built-in chat page. Talks to the Agent Protocol endpoints (POST /threads, POST /threads/{id}/runs/stream),
// the dataset upload API (POST /v1/datasets) and the verified-answers API (POST /v1/verified). Plain JS, no build step, nothing loaded from elsewhere.
// Every untrusted string reaches the DOM through textContent (markdown.js builds nodes, never HTML strings).
"use strict";

(function () {
  const STREAM_MODES = ["values", "messages", "updates", "custom"];
  const THREAD_KEY = "etla.thread";
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"), messages: $("messages"), welcome: $("welcome"), input: $("input"), form: $("composer"),
    send: $("send"), stop: $("stop"), attach: $("attach"), file: $("file-input"), newChat: $("new-chat"),
    datasets: $("datasets"), datasetsEmpty: $("datasets-empty"), refresh: $("refresh-datasets"),
    tables: $("tables"), datamarts: $("datamarts"), warehouseEmpty: $("warehouse-empty"),
    drop: $("drop-zone"), dropOverlay: $("drop-overlay"), upload: $("upload-progress"),
    uploadLabel: $("upload-label"), uploadBar: $("upload-bar"),
    keyDialog: $("key-dialog"), keyForm: $("key-form"), keyInput: $("key-input"), keyReason: $("key-reason"),
  };

  // ---- API key -------------------------------------------------------------------------------------------
  // A server with API keys answers 401: ask for a key once and keep it for this browser session only.
  const KEY_STORAGE = "etla.api-key";
  let keyPrompt = null;

  function withKey(headers) {
    const key = sessionStorage.getItem(KEY_STORAGE);
    return key ? { ...headers, Authorization: `Bearer ${key}` } : { ...headers };
  }

  function askForKey(reason) {
    if (!keyPrompt) {
      keyPrompt = new Promise((resolve) => {
        ui.keyReason.textContent = reason;
        ui.keyInput.value = "";
        ui.keyForm.addEventListener("submit", (event) => {
          event.preventDefault();
          sessionStorage.setItem(KEY_STORAGE, ui.keyInput.value.trim());
          ui.keyDialog.close();
          keyPrompt = null;
          resolve();
        }, { once: true });
        ui.keyDialog.showModal();
        ui.keyInput.focus();
      });
    }
    return keyPrompt;
  }

  async function api(path, options = {}) {
    for (;;) {
      const response = await fetch(path, { ...options, headers: withKey(options.headers || {}) });
      if (response.status !== 401) return response;
      sessionStorage.removeItem(KEY_STORAGE);
      await askForKey(await errorSentence(response));
    }
  }

  // ---- conversation model -------------------------------------------------------------------------------
  const chat = {
    threadId: localStorage.getItem(THREAD_KEY),
    messages: [], // final messages from `values` (LangChain dicts: type human/ai/tool)
    partial: new Map(), // message id -> streamed text not yet in `values`
    pending: [], // user messages sent but not yet echoed back by the server
    progress: new Map(), // tool name -> {done, total, message}
    interrupt: null, // {action_requests, review_configs}
    verified: new Map(), // ask tool call id -> "saving" | "saved" | {error} (the 👍 under its answer)
    charts: new Map(), // ask tool call id -> its chart card (drawn once, kept across renders)
    error: null,
    running: false,
    abort: null,
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setStatus(text, kind) {
    ui.status.textContent = text || "";
    ui.status.dataset.kind = kind || "";
  }

  function textOf(content) {
    if (typeof content === "string") return content;
    if (Array.isArray(content)) {
      return content.map((part) => (typeof part === "string" ? part : part && part.text) || "").join("");
    }
    return content == null ? "" : JSON.stringify(content);
  }

  function kindOf(message) {
    const type = String(message.type || message.role || "").toLowerCase();
    if (type.startsWith("human") || type === "user") return "human";
    if (type.startsWith("ai") || type === "assistant") return "ai";
    if (type.startsWith("tool")) return "tool";
    return "other";
  }

  // What each step does, in words (a step never shows a tool's internal name when it has a label).
  const STEP_LABELS = {
    infer_schema: "inspect the file", generate_ddl: "design the table", load_table: "load the data",
    run_query: "run the query", list_datasets: "list your datasets", nl_to_sql: "write the SQL",
    ask: "answer the question", design_datamart: "design the datamart", plan_deploy: "plan the deploy",
    apply_deploy: "deploy", deploy: "deploy", rollback: "roll back", deployments: "show the deploy history",
    verify: "save the answer",
  };
  const SHOWN_ARGS = ["path", "dataset", "table", "name", "sql", "question", "dialect", "datamarts", "tables"];

  function baseName(value) {
    return typeof value === "string" ? value.split(/[\\/]/).pop() : value;
  }

  function briefArgs(args) {
    // the few arguments a person recognises, as plain values: no JSON objects (a follow-up's `previous`),
    // and file names without the server's directories
    if (!args || typeof args !== "object") return "";
    const shown = Object.entries(args)
      .filter(([k, v]) => SHOWN_ARGS.includes(k) && v !== null && v !== undefined && v !== "" && v !== false)
      .map(([k, v]) => {
        const value = k === "path" ? baseName(v) : v;
        const text = Array.isArray(value) ? value.join(", ") : typeof value === "object" ? "" : String(value);
        return text.length > 60 ? `${text.slice(0, 57)}…` : text;
      })
      .filter(Boolean);
    return shown.join(", ");
  }

  const NUMBER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  const DECIMAL = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const NOT_QUANTITY = /(^|_)(id|year|code|zip|key|no)$/i;

  function formatCell(value, column) {
    // 51,014.80 and 12,345 for numbers; ids, years and codes as they are; NULL as an empty cell
    if (value === null || value === undefined) return "";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return NOT_QUANTITY.test(column || "") ? String(value) : NUMBER.format(value);
    return DECIMAL.format(value);
  }

  // ---- rendering ----------------------------------------------------------------------------------------
  const STEP_LOOK = { // state -> [icon, verb]
    failed: ["✕", "failed"], done: ["✓", "ran"], waiting: ["●", "awaiting approval:"], running: ["⟳", "running"],
  };

  function renderToolStep(call, result) {
    const done = Boolean(result);
    const failed = done && result.status === "error";
    const state = failed ? "failed" : done ? "done" : chat.interrupt ? "waiting" : "running";
    const step = el("details", `tool-step ${state}`);
    step.dataset.tool = call.name;
    const summary = step.appendChild(el("summary"));
    summary.appendChild(el("span", "tool-icon", STEP_LOOK[state][0]));
    summary.appendChild(el("span", "tool-verb", STEP_LOOK[state][1]));
    summary.appendChild(el("span", "tool-name", STEP_LABELS[call.name] || call.name));
    const args = briefArgs(call.args);
    if (args) summary.appendChild(el("span", "tool-args", `(${args})`));
    if (state === "running") {
      const progress = chat.progress.get(call.name);
      if (progress) {
        const bar = step.appendChild(el("div", "tool-progress"));
        const meter = bar.appendChild(el("progress"));
        if (progress.total) {
          meter.max = progress.total;
          meter.value = Math.min(progress.done, progress.total);
        }
        const pct = progress.total ? ` ${Math.round((100 * progress.done) / progress.total)}%` : "";
        bar.appendChild(el("span", "tool-progress-label", `${progress.message || "working"}${pct}`));
        step.open = true;
      }
    } else if (done) {
      const body = textOf(result.content);
      step.appendChild(el("pre", "tool-output", prettyJson(body)));
      if (failed) {
        summary.appendChild(el("span", "tool-error", body.length > 160 ? `${body.slice(0, 157)}…` : body));
      }
    }
    return step;
  }

  function prettyJson(text) {
    // a step's output as indented JSON; file locations on the server show as file names only
    try {
      return JSON.stringify(JSON.parse(text), (key, value) =>
        (key === "source" || key === "path") && typeof value === "string" && value.startsWith("/")
          ? baseName(value) : value, 2);
    } catch (_) {
      return text;
    }
  }

  // ---- charts: an answer's Vega-Lite spec drawn by the vendored vega-embed, with a table view ------------
  function askOutput(call, result) {
    if (call.name !== "ask" || !result || result.status === "error") return null;
    try {
      const out = JSON.parse(textOf(result.content));
      return out && out.chart && Array.isArray(out.rows) ? out : null;
    } catch (_) {
      return null;
    }
  }

  function chartCard(callId, out) {
    if (chat.charts.has(callId)) return chat.charts.get(callId);
    const card = el("div", "msg chart-row");
    const box = card.appendChild(el("div", "chart-card"));
    const bar = box.appendChild(el("div", "chart-toggle"));
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "Show the answer as");
    const chartButton = bar.appendChild(el("button", "toggle", "Chart"));
    const tableButton = bar.appendChild(el("button", "toggle", "Table"));
    const view = box.appendChild(el("div", "chart-view"));
    const table = box.appendChild(el("div", "chart-table"));
    const show = (which) => {
      view.hidden = which !== "chart";
      table.hidden = which !== "table";
      chartButton.setAttribute("aria-pressed", String(which === "chart"));
      tableButton.setAttribute("aria-pressed", String(which === "table"));
      if (which === "table" && !table.firstChild) table.appendChild(rowsTable(out.columns, out.rows));
    };
    for (const [button, which] of [[chartButton, "chart"], [tableButton, "table"]]) {
      button.type = "button";
      button.addEventListener("click", () => show(which));
    }
    show("chart");
    drawChart(view, out.chart).catch((err) => {
      view.replaceChildren(el("p", "chart-error", `The chart could not be drawn (${err.message || err}).`));
      show("table");
    });
    chat.charts.set(callId, card);
    return card;
  }

  async function drawChart(target, spec) {
    if (!window.vegaEmbed || !window.vegaInterpreter) throw new Error("the chart library did not load");
    const shown = { ...spec, width: "container", height: 260, autosize: { type: "fit", contains: "padding" } };
    // the page's CSP forbids eval: Vega evaluates expressions with its interpreter instead
    await window.vegaEmbed(target, shown, {
      renderer: "canvas", actions: false, tooltip: false, defaultStyle: false,
      ast: true, expr: window.vegaInterpreter.expressionInterpreter,
    });
  }

  function rowsTable(columns, rows) {
    const table = el("table", "rows");
    const head = table.appendChild(el("thead")).appendChild(el("tr"));
    for (const column of columns) head.appendChild(el("th", "", column));
    const body = table.appendChild(el("tbody"));
    for (const row of rows) {
      const line = body.appendChild(el("tr"));
      row.forEach((value, i) => {
        const kind = typeof value === "number" ? "num" : "";
        const cell = line.appendChild(el("td", kind, formatCell(value, columns[i])));
        cell.title = value === null ? "NULL" : String(value);
      });
    }
    return table;
  }

  function bubble(kind, text, markdown) {
    const row = el("div", `msg ${kind}`);
    const body = row.appendChild(el("div", "bubble"));
    if (markdown) body.appendChild(window.EtlMarkdown.render(text));
    else body.textContent = text;
    return row;
  }

  // An answer the person can confirm: a successful ask that ran SQL and stands on its own (not a follow-up).
  function askPair(call, result) {
    if (call.name !== "ask" || !result || result.status === "error" || (call.args || {}).previous) return null;
    try {
      const out = JSON.parse(textOf(result.content));
      return out && out.sql && out.question ? { id: call.id, question: out.question, sql: out.sql } : null;
    } catch (_) {
      return null;
    }
  }

  function renderVerify(pair) {
    const state = chat.verified.get(pair.id);
    const bar = el("div", "verify");
    if (state === "saved") {
      bar.appendChild(el("span", "verify-saved", "✓ saved: the same question will reuse this SQL"));
      return bar;
    }
    const button = bar.appendChild(el("button", "verify-button", "👍"));
    button.type = "button";
    button.title = "This answer is right: save it so the same question reuses this SQL";
    button.setAttribute("aria-label", "Save this answer as verified");
    button.disabled = state === "saving";
    button.addEventListener("click", () => saveVerified(pair));
    if (state && state.error) bar.appendChild(el("span", "verify-error", state.error));
    return bar;
  }

  async function saveVerified(pair) {
    chat.verified.set(pair.id, "saving");
    render();
    try {
      const response = await api("/v1/verified", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question: pair.question, sql: pair.sql }),
      });
      if (!response.ok) throw new Error(await errorSentence(response));
      chat.verified.set(pair.id, "saved");
    } catch (err) {
      chat.verified.set(pair.id, { error: err.message });
    }
    render();
  }

  function renderInterrupt(request) {
    const card = el("section", "approval");
    card.appendChild(el("h3", "", "Approval needed"));
    const actions = request.action_requests || [];
    const configs = request.review_configs || [];
    const editors = [];
    actions.forEach((action, index) => {
      const item = card.appendChild(el("div", "approval-action"));
      const head = item.appendChild(el("div", "approval-head"));
      head.appendChild(el("code", "tool-name", action.name || "action"));
      if (action.description) item.appendChild(window.EtlMarkdown.render(action.description));
      const config = configs.find((c) => c.action_name === action.name) || configs[index] || {};
      const allowed = config.allowed_decisions || ["approve", "reject"];
      const args = el("textarea", "approval-args");
      args.value = JSON.stringify(action.args || {}, null, 2);
      args.readOnly = !allowed.includes("edit");
      args.rows = Math.min(14, args.value.split("\n").length + 1);
      args.setAttribute("aria-label", `Arguments of ${action.name}`);
      item.appendChild(args);
      editors.push({ action, args, allowed });
    });
    const reason = card.appendChild(el("input", "approval-reason"));
    reason.placeholder = "Reason (optional, sent with Reject)";
    const buttons = card.appendChild(el("div", "approval-buttons"));
    const approve = buttons.appendChild(el("button", "primary approve", "Approve"));
    const reject = buttons.appendChild(el("button", "danger reject", "Reject"));
    approve.type = "button";
    reject.type = "button";
    approve.addEventListener("click", () => {
      let decisions;
      try {
        decisions = editors.map(({ action, args, allowed }) => {
          const edited = JSON.parse(args.value);
          if (allowed.includes("edit") && JSON.stringify(edited) !== JSON.stringify(action.args || {})) {
            return { type: "edit", edited_action: { name: action.name, args: edited } };
          }
          return { type: "approve" };
        });
      } catch (err) {
        setStatus(`The edited arguments are not valid JSON: ${err.message}`, "error");
        return;
      }
      resume(decisions);
    });
    reject.addEventListener("click", () => {
      const message = reason.value.trim() || "Rejected by the user.";
      resume(editors.map(() => ({ type: "reject", message })));
    });
    if (chat.running) [approve, reject].forEach((b) => { b.disabled = true; });
    return card;
  }

  function render() {
    const stickToBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 80;
    const fragment = document.createDocumentFragment();
    const results = new Map();
    for (const message of chat.messages) {
      if (kindOf(message) === "tool") results.set(message.tool_call_id, message);
    }
    const seenIds = new Set();
    let answered = null; // the last ask result whose reply (the next AI text) gets the 👍
    let charted = null; // the last ask result with a chart: drawn under its reply
    for (const message of chat.messages) {
      if (message.id) seenIds.add(message.id);
      const kind = kindOf(message);
      if (kind === "human") {
        fragment.appendChild(bubble("human", textOf(message.content), false));
        answered = null;
      }
      if (kind === "ai") {
        const text = textOf(message.content);
        if (text.trim()) {
          const row = fragment.appendChild(bubble("ai", text, true));
          if (answered) row.querySelector(".bubble").appendChild(renderVerify(answered));
          if (charted) fragment.appendChild(chartCard(charted.id, charted.out));
          answered = null;
          charted = null;
        }
        for (const call of message.tool_calls || []) {
          fragment.appendChild(renderToolStep(call, results.get(call.id)));
          answered = askPair(call, results.get(call.id)) || answered;
          const out = askOutput(call, results.get(call.id));
          if (out) charted = { id: call.id, out };
        }
      }
    }
    for (const text of chat.pending) fragment.appendChild(bubble("human", text, false));
    for (const [id, text] of chat.partial) {
      if (!seenIds.has(id) && text.trim()) fragment.appendChild(bubble("ai streaming", text, true));
    }
    if (chat.interrupt) fragment.appendChild(renderInterrupt(chat.interrupt));
    if (chat.error) fragment.appendChild(bubble("error", chat.error, false));
    if (chat.running && !chat.partial.size && !chat.interrupt) {
      fragment.appendChild(el("div", "typing", "thinking…"));
    }
    ui.welcome.hidden = Boolean(chat.messages.length || chat.pending.length || chat.error);
    ui.messages.replaceChildren(ui.welcome, fragment);
    if (stickToBottom || chat.running) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // ---- server-sent events over fetch ---------------------------------------------------------------------
  async function* readSse(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut = buffer.indexOf("\n\n");
      while (cut >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = parseSseBlock(block);
        if (event) yield event;
        cut = buffer.indexOf("\n\n");
      }
    }
    const last = parseSseBlock(buffer);
    if (last) yield last;
  }

  function parseSseBlock(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return null;
    const raw = data.join("\n");
    try {
      return { event, data: JSON.parse(raw) };
    } catch (_) {
      return { event, data: raw };
    }
  }

  // ---- Agent Protocol ------------------------------------------------------------------------------------
  async function errorSentence(response) {
    try {
      const body = await response.json();
      const detail = body.error || body.detail || body.message || body;
      if (typeof detail === "string") return detail;
      if (detail && detail.message) return detail.message;
      return JSON.stringify(detail);
    } catch (_) {
      return `${response.status} ${response.statusText}`;
    }
  }

  async function ensureThread() {
    if (chat.threadId) return chat.threadId;
    const response = await api("/threads", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ metadata: {} }),
    });
    if (!response.ok) throw new Error(await errorSentence(response));
    const thread = await response.json();
    chat.threadId = thread.thread_id;
    localStorage.setItem(THREAD_KEY, chat.threadId);
    return chat.threadId;
  }

  function applyValues(values) {
    if (!values || typeof values !== "object") return;
    if (Array.isArray(values.messages)) {
      chat.messages = values.messages;
      const humans = values.messages.filter((m) => kindOf(m) === "human").map((m) => textOf(m.content));
      chat.pending = chat.pending.filter((text) => !humans.includes(text));
      for (const message of values.messages) if (message.id) chat.partial.delete(message.id);
    }
    const interrupts = values.__interrupt__;
    chat.interrupt = Array.isArray(interrupts) && interrupts.length ? interruptPayload(interrupts) : null;
  }

  function interruptPayload(interrupts) {
    const merged = { action_requests: [], review_configs: [] };
    for (const item of interrupts) {
      const value = item && item.value !== undefined ? item.value : item;
      if (value && Array.isArray(value.action_requests)) {
        merged.action_requests.push(...value.action_requests);
        merged.review_configs.push(...(value.review_configs || []));
      } else {
        merged.action_requests.push({ name: "confirm", args: {}, description: textOf(value) });
      }
    }
    return merged;
  }

  function applyMessageChunk(data, cumulative) {
    // "messages": data is [message chunk, metadata] with a text delta; "messages/partial": [message so far]
    const chunk = Array.isArray(data) ? data[0] : data;
    if (!chunk || kindOf(chunk) !== "ai") return;
    const text = textOf(chunk.content);
    const id = chunk.id || "streaming";
    chat.partial.set(id, cumulative ? text : (chat.partial.get(id) || "") + text);
  }

  function applyCustom(data) {
    if (data && data.type === "progress" && data.tool) {
      chat.progress.set(data.tool, { done: data.done, total: data.total, message: data.message });
    }
  }

  function handleEvent({ event, data }) {
    if (event === "values") applyValues(data);
    else if (event === "messages") applyMessageChunk(data, false);
    else if (event === "messages/partial") applyMessageChunk(data, true);
    else if (event === "custom") applyCustom(data);
    else if (event === "error") chat.error = (data && (data.message || data.error)) || String(data);
    else return false;
    return true;
  }

  async function runStream(body) {
    chat.error = null;
    chat.running = true;
    chat.abort = new AbortController();
    setBusy(true);
    render();
    try {
      const threadId = await ensureThread();
      const response = await api(`/threads/${encodeURIComponent(threadId)}/runs/stream`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ assistant_id: "agent", stream_mode: STREAM_MODES, ...body }),
        signal: chat.abort.signal,
      });
      if (response.status === 404) {
        forgetThread();
        throw new Error("This conversation no longer exists on the server; a new one was started, send again.");
      }
      if (!response.ok) throw new Error(await errorSentence(response));
      let frame = null;
      for await (const event of readSse(response)) {
        if (handleEvent(event) && !frame) {
          frame = requestAnimationFrame(() => { frame = null; render(); });
        }
      }
    } catch (err) {
      if (err.name !== "AbortError") chat.error = err.message || String(err);
    } finally {
      chat.running = false;
      chat.partial.clear();
      chat.progress.clear();
      chat.abort = null;
      setBusy(false);
      render();
      loadDatasets();
    }
  }

  function send(text) {
    const message = text.trim();
    if (!message || chat.running) return;
    chat.pending.push(message);
    chat.interrupt = null;
    return runStream({ input: { messages: [{ type: "human", content: message }] } });
  }

  function resume(decisions) {
    if (chat.running) return;
    chat.interrupt = null;
    return runStream({ command: { resume: { decisions } } });
  }

  function setBusy(busy) {
    ui.send.hidden = busy;
    ui.stop.hidden = !busy;
    ui.attach.disabled = busy;
    setStatus(busy ? "working…" : "", busy ? "busy" : "");
  }

  function forgetThread() {
    chat.threadId = null;
    chat.verified.clear();
    chat.charts.clear();
    localStorage.removeItem(THREAD_KEY);
  }

  async function restoreThread() {
    if (!chat.threadId) return render();
    try {
      const response = await api(`/threads/${encodeURIComponent(chat.threadId)}/state`);
      if (response.status === 404) forgetThread();
      else if (response.ok) {
        const state = await response.json();
        applyValues(state.values || {});
        if (!chat.interrupt && Array.isArray(state.tasks)) {
          const interrupts = state.tasks.flatMap((task) => task.interrupts || []);
          if (interrupts.length) chat.interrupt = interruptPayload(interrupts);
        }
      }
    } catch (_) {
      setStatus("The server is not reachable.", "error");
    }
    render();
  }

  // ---- uploads and datasets ------------------------------------------------------------------------------
  function uploadFile(file) {
    if (!file) return;
    if (chat.running) {
      setStatus("Wait for the current reply to finish, then upload.", "error");
      return;
    }
    ui.upload.hidden = false;
    ui.uploadLabel.textContent = `Uploading ${file.name}…`;
    ui.uploadBar.value = 0;
    const form = new FormData();
    form.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", "/v1/datasets");
    for (const [name, value] of Object.entries(withKey({}))) request.setRequestHeader(name, value);
    request.responseType = "json";
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) ui.uploadBar.value = e.loaded / e.total;
    });
    request.addEventListener("load", () => {
      ui.upload.hidden = true;
      const body = request.response || {};
      if (request.status === 401) {
        sessionStorage.removeItem(KEY_STORAGE);
        askForKey((body.error && body.error.message) || "This server needs an API key.")
          .then(() => uploadFile(file));
        return;
      }
      if (request.status >= 200 && request.status < 300) {
        loadDatasets();
        send(`I uploaded ${file.name} (dataset ${body.name}).`);
      } else {
        chat.error = (body.error && body.error.message) || `Uploading ${file.name} failed (${request.status}).`;
        render();
      }
    });
    request.addEventListener("error", () => {
      ui.upload.hidden = true;
      chat.error = `Uploading ${file.name} failed: the server is not reachable.`;
      render();
    });
    request.send(form);
  }

  async function loadDatasets() {
    try {
      const response = await api("/v1/datasets");
      if (!response.ok) return;
      const body = await response.json();
      const items = (body.datasets || []).map((dataset) => {
        const item = el("li");
        const button = item.appendChild(el("button", "dataset"));
        button.type = "button";
        button.title = `Ask for the schema of ${dataset.name}`;
        button.appendChild(el("span", "dataset-name", dataset.name));
        const columns = (dataset.columns || []).length;
        button.appendChild(el("span", "dataset-meta",
          `${dataset.format} · ${Number(dataset.row_count).toLocaleString()} rows · ${columns} columns`));
        button.addEventListener("click", () => send(`Show me the schema of ${dataset.name}`));
        return item;
      });
      ui.datasets.replaceChildren(...items);
      ui.datasetsEmpty.hidden = items.length > 0;
    } catch (_) {
      /* the status line already says when the server is unreachable */
    }
    loadWarehouse();
  }

  async function loadWarehouse() {
    // the warehouse's tables and datamarts; a click asks about them
    try {
      const response = await fetch("/v1/warehouse");
      if (!response.ok) return;
      const body = await response.json();
      const entry = (name, meta, question) => {
        const item = el("li");
        const button = item.appendChild(el("button", "dataset"));
        button.type = "button";
        button.title = question;
        button.appendChild(el("span", "dataset-name", name));
        button.appendChild(el("span", "dataset-meta", meta));
        button.addEventListener("click", () => { ui.input.value = question; autosize(); ui.input.focus(); });
        return item;
      };
      ui.tables.replaceChildren(...(body.tables || []).map((t) => entry(t.table,
        `${t.engine} table · ${Number(t.rows).toLocaleString()} rows`, `How many rows are in ${t.table}?`)));
      ui.datamarts.replaceChildren(...(body.datamarts || []).map((d) => entry(d.name,
        `datamart of ${d.dataset} · ${d.deployed ? "deployed" : "designed, not deployed"}`,
        d.deployed ? `Show me ${d.name}` : `Deploy ${d.name}`)));
      ui.warehouseEmpty.hidden = Boolean((body.tables || []).length || (body.datamarts || []).length);
    } catch (_) {
      /* the status line already says when the server is unreachable */
    }
  }

  // ---- wiring --------------------------------------------------------------------------------------------
  ui.keyDialog.addEventListener("cancel", (event) => event.preventDefault()); // requests wait for a key
  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 200)}px`;
  }

  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ui.input.value;
    ui.input.value = "";
    autosize();
    send(text);
  });
  ui.input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ui.form.requestSubmit();
    }
  });
  ui.input.addEventListener("input", autosize);
  ui.stop.addEventListener("click", () => chat.abort && chat.abort.abort());
  ui.attach.addEventListener("click", () => ui.file.click());
  ui.file.addEventListener("change", () => {
    uploadFile(ui.file.files[0]);
    ui.file.value = "";
  });
  ui.refresh.addEventListener("click", loadDatasets);
  ui.newChat.addEventListener("click", () => {
    if (chat.abort) chat.abort.abort();
    forgetThread();
    Object.assign(chat, { messages: [], pending: [], interrupt: null, error: null });
    chat.partial.clear();
    render();
    ui.input.focus();
  });
  document.querySelectorAll(".example").forEach((button) => {
    button.addEventListener("click", () => { ui.input.value = button.textContent; autosize(); ui.input.focus(); });
  });
  ui.drop.addEventListener("dragover", (e) => { e.preventDefault(); ui.dropOverlay.hidden = false; });
  ui.drop.addEventListener("dragleave", (e) => { if (e.target === ui.dropOverlay) ui.dropOverlay.hidden = true; });
  ui.drop.addEventListener("drop", (e) => {
    e.preventDefault();
    ui.dropOverlay.hidden = true;
    if (e.dataTransfer.files.length) uploadFile(e.dataTransfer.files[0]);
  });

  restoreThread();
  loadDatasets();
  ui.input.focus();
})();
