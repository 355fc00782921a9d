// docent chat widget. Include it on any page:
//   <script src="https://DOCENT/widget.js" data-chatbot="CHATBOT_ID" data-key="dk_pub_…" async></script>
// It opens a chat bubble in a shadow root (its styles and the page's do not mix), streams answers
// with their citations, and keeps the conversation in this browser's storage across page loads.
// Answers are rendered from a small Markdown subset into DOM nodes: never as HTML, links only to
// http(s) addresses, and images are shown as their text, never loaded.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.key || !script.dataset.chatbot) return;
  const base = new URL(script.src).origin;
  const key = script.dataset.key;
  const stored = "docent-widget:" + script.dataset.chatbot;
  const MAX_KEPT = 50;

  const load = () => {
    try { return JSON.parse(localStorage.getItem(stored)) || {}; } catch (_) { return {}; }
  };
  const state = load();
  if (!state.visitor) {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    state.visitor = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  state.messages = Array.isArray(state.messages) ? state.messages : [];
  const save = () => {
    state.messages = state.messages.slice(-MAX_KEPT);
    try { localStorage.setItem(stored, JSON.stringify(state)); } catch (_) { /* storage full or off */ }
  };
  save();

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
.bubble { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;
  background: #2456c7; color: #fff; display: grid; place-items: center; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483646; }
.panel { position: fixed; right: 20px; bottom: 88px; width: min(380px, calc(100vw - 40px)); height: min(560px, calc(100vh - 120px));
  display: flex; flex-direction: column; background: #fff; color: #1d2330; border: 1px solid #d8dce4; border-radius: 12px;
  box-shadow: 0 8px 30px rgba(0,0,0,.2); z-index: 2147483647; overflow: hidden; }
.panel[hidden] { display: none; }
header { display: flex; justify-content: space-between; align-items: center; padding: 10px 14px; background: #2456c7; color: #fff; }
header h2 { font-size: 15px; margin: 0; }
header button { background: none; border: 0; color: #fff; font-size: 20px; cursor: pointer; }
ol.log { list-style: none; margin: 0; padding: 12px; flex: 1; overflow-y: auto; }
ol.log > li { margin: 8px 0; padding: 8px 11px; border-radius: 10px; font-size: 14px; line-height: 1.45; overflow-wrap: anywhere; }
li.user { background: #eef3fd; margin-left: 40px; white-space: pre-wrap; }
li.assistant { background: #f3f4f7; margin-right: 24px; }
li.assistant p { margin: 0 0 6px; } li.assistant p:last-child { margin-bottom: 0; }
li.assistant ul, li.assistant ol { margin: 4px 0; padding-left: 20px; }
li.assistant blockquote { margin: 4px 0; padding-left: 8px; border-left: 3px solid #c9cfdb; color: #3a4252; }
li.assistant code { background: #e6e9ef; padding: 0 3px; border-radius: 3px; font-family: ui-monospace, monospace; font-size: 13px; }
.sources { margin: 6px 0 0; padding: 0; list-style: none; font-size: 12px; color: #5b6475; }
.sources li { margin-top: 3px; }
.marker { font-size: 11px; vertical-align: super; color: #2456c7; font-weight: 600; }
.error { color: #a32020; font-size: 13px; }
form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #d8dce4; }
textarea { flex: 1; resize: none; height: 42px; padding: 8px; border: 1px solid #d8dce4; border-radius: 8px; font-size: 14px; }
form button { background: #2456c7; color: #fff; border: 0; border-radius: 8px; padding: 0 14px; font-size: 14px; cursor: pointer; }
form button:disabled { opacity: .6; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;

  const el = (tag, cls, text) => {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  };

  // Inline Markdown: `code`, **strong**, *em*, [text](http…) links, ![alt](…) as its alt text,
  // and [n] citation markers. Everything else is text.
  const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(!\[[^\]]*\]\([^)]*\))|(\[[^\]]+\]\([^)\s]+\))|(\[\d{1,3}\])/g;
  function inline(parent, text, cited) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      parent.append(text.slice(last, m.index));
      const t = m[0];
      if (m[1]) parent.append(el("code", "", t.slice(1, -1)));
      else if (m[2]) parent.append(el("strong", "", t.slice(2, -2)));
      else if (m[3]) parent.append(el("em", "", t.slice(1, -1)));
      else if (m[4]) parent.append(t.slice(2, t.indexOf("]")));
      else if (m[5]) {
        const label = t.slice(1, t.indexOf("]"));
        const href = t.slice(t.indexOf("](") + 2, -1);
        let url = null;
        try { url = new URL(href); } catch (_) { url = null; }
        if (url && (url.protocol === "https:" || url.protocol === "http:")) {
          const a = el("a", "", label);
          a.href = url.href;
          a.target = "_blank";
          a.rel = "noopener noreferrer nofollow";
          parent.append(a);
        } else {
          parent.append(label);
        }
      } else if (m[6]) {
        const n = t.slice(1, -1);
        const source = cited.find((c) => String(c.n) === n);
        if (source) {
          const mark = el("span", "marker", "[" + n + "]");
          mark.title = label(source);
          parent.append(mark);
        } else {
          parent.append(t);
        }
      }
      last = m.index + t.length;
    }
    parent.append(text.slice(last));
  }

  // Block Markdown: paragraphs, "- " and "1. " lists, "> " quotes.
  function markdown(target, text, cited) {
    target.textContent = "";
    let list = null;
    let para = null;
    for (const raw of text.split("\n")) {
      const line = raw.trimEnd();
      const bullet = /^\s*[-*] (.*)$/.exec(line);
      const numbered = /^\s*\d+[.)] (.*)$/.exec(line);
      const quote = /^\s*> ?(.*)$/.exec(line);
      if (bullet || numbered) {
        const kind = bullet ? "UL" : "OL";
        if (!list || list.tagName !== kind) { list = el(kind.toLowerCase()); target.append(list); }
        para = null;
        const item = el("li");
        inline(item, (bullet || numbered)[1], cited);
        list.append(item);
      } else if (quote) {
        list = null; para = null;
        const q = el("blockquote");
        inline(q, quote[1], cited);
        target.append(q);
      } else if (!line.trim()) {
        list = null; para = null;
      } else {
        list = null;
        if (!para) { para = el("p"); target.append(para); } else { para.append(" "); }
        inline(para, line, cited);
      }
    }
  }

  const label = (c) => "[" + c.n + "] " + c.title + (c.page ? ", page " + c.page : "") + (c.section ? " — " + c.section : "");

  const host = el("div");
  host.setAttribute("data-docent-widget", "");
  const root = host.attachShadow({ mode: "open" });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (_) {
    root.append(el("style", "", CSS));
  }
  const bubble = el("button", "bubble");
  bubble.type = "button";
  // A speech bubble, drawn (an emoji needs a font the visitor may not have).
  const SVG = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "26");
  icon.setAttribute("height", "26");
  icon.setAttribute("aria-hidden", "true");
  const shape = document.createElementNS(SVG, "path");
  shape.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  shape.setAttribute("fill", "currentColor");
  icon.append(shape);
  bubble.append(icon);
  bubble.setAttribute("aria-label", "Open the chat");
  bubble.setAttribute("aria-expanded", "false");
  const panel = el("section", "panel");
  panel.hidden = true;
  panel.setAttribute("aria-label", "Chat");
  const header = el("header");
  const title = el("h2", "", "Chat");
  const close = el("button", "", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Close the chat");
  header.append(title, close);
  const log = el("ol", "log");
  log.setAttribute("aria-live", "polite");
  const form = el("form");
  const field = el("textarea");
  field.id = "docent-question";
  field.maxLength = 8000;
  field.placeholder = "Ask a question…";
  const fieldLabel = el("label", "sr", "Your question");
  fieldLabel.htmlFor = field.id;
  const send = el("button", "", "Send");
  send.type = "submit";
  form.append(fieldLabel, field, send);
  panel.append(header, log, form);
  root.append(panel, bubble);

  function show(message) {
    const item = el("li", message.role);
    if (message.role === "user") {
      item.textContent = message.text;
    } else {
      const body = el("div");
      markdown(body, message.text, message.citations || []);
      item.append(body);
      sources(item, message.citations || []);
    }
    log.append(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function sources(item, cited) {
    if (!cited.length) return;
    const list = el("ol", "sources");
    for (const c of cited) list.append(el("li", "", label(c)));
    item.append(list);
  }

  let configured = false;
  async function configure() {
    if (configured) return;
    configured = true;
    try {
      const response = await fetch(base + "/widget/v1/config", { headers: { "x-docent-key": key } });
      if (!response.ok) throw new Error((await response.json()).message);
      const config = await response.json();
      title.textContent = config.name;
      if (config.welcome) log.prepend(Object.assign(el("li", "assistant"), { textContent: config.welcome }));
    } catch (error) {
      log.append(el("li", "error", "The chat is not available here: " + (error.message || error)));
    }
  }

  function* events(buffer) {
    let end;
    while ((end = buffer.text.indexOf("\n\n")) >= 0) {
      const block = buffer.text.slice(0, end);
      buffer.text = buffer.text.slice(end + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      yield { type, data: data.join("\n") };
    }
  }

  async function ask(question) {
    const asked = { role: "user", text: question };
    state.messages.push(asked);
    save();
    show(asked);
    const answer = { role: "assistant", text: "", citations: [] };
    const item = el("li", "assistant");
    const body = el("div");
    item.append(body);
    log.append(item);
    send.disabled = true;
    try {
      const response = await fetch(base + "/widget/v1/chat", {
        method: "POST",
        headers: { "content-type": "application/json", "x-docent-key": key },
        body: JSON.stringify({ question, conversation: state.conversation || null, visitor: state.visitor }),
      });
      if (!response.ok) throw new Error((await response.json()).message);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const buffer = { text: "" };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer.text += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
        for (const event of events(buffer)) {
          if (event.type === "conversation") state.conversation = event.data;
          else if (event.type === "delta") {
            const piece = JSON.parse(event.data).text;
            answer.text += piece;
            body.append(piece);
            log.scrollTop = log.scrollHeight;
          } else if (event.type === "citations") answer.citations = JSON.parse(event.data).citations;
          else if (event.type === "error") item.append(el("p", "error", JSON.parse(event.data).message));
        }
      }
      markdown(body, answer.text, answer.citations);
      sources(item, answer.citations);
      state.messages.push(answer);
      save();
    } catch (error) {
      item.append(el("p", "error", String(error.message || error)));
    } finally {
      send.disabled = false;
      log.scrollTop = log.scrollHeight;
    }
  }

  function toggle(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", String(open));
    if (open) { configure(); field.focus(); }
  }
  bubble.addEventListener("click", () => toggle(panel.hidden));
  close.addEventListener("click", () => toggle(false));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const question = field.value.trim();
    if (!question || send.disabled) return;
    field.value = "";
    ask(question);
  });
  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  for (const message of state.messages) show(message);
  (document.body || document.documentElement).append(host);
})();
