// docent console: progressive enhancement only — every page works without this file.
// Uploads go one file per request, each with its own progress bar; parts of a page marked
// `data-live` refresh themselves while they say `data-pending`; `data-copy` buttons copy.
"use strict";

(() => {
  const REFRESH_MS = 1500;
  let refreshing = null;

  // Replaces every `data-live` part of this page by its current version from the server.
  async function refresh() {
    const response = await fetch(location.href, { headers: { accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return false;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    let pending = false;
    for (const part of document.querySelectorAll("[data-live][id]")) {
      const next = fresh.getElementById(part.id);
      if (!next) continue;
      part.replaceWith(document.adoptNode(next));
      if (next.hasAttribute("data-pending")) pending = true;
    }
    return pending;
  }

  function keepFresh() {
    if (refreshing) return;
    const tick = async () => {
      let pending = false;
      try { pending = await refresh(); } catch (_) { pending = true; }
      refreshing = pending ? setTimeout(tick, REFRESH_MS) : null;
    };
    refreshing = setTimeout(tick, REFRESH_MS);
  }

  function uploadOne(form, file, list) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    const state = document.createElement("span");
    state.className = "hint";
    state.textContent = " uploading…";
    item.append(name, " ", bar, state);
    list.append(item);
    return new Promise((resolve) => {
      const data = new FormData();
      // The token first: the server refuses a file that comes before it.
      data.append("csrf", form.elements.csrf.value);
      data.append("tags", form.elements.tags.value);
      if (form.elements.allow_duplicate.checked) data.append("allow_duplicate", "on");
      data.append("file", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("x-docent-upload", "1");
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
      });
      xhr.addEventListener("load", () => {
        bar.value = 100;
        const ok = xhr.status >= 200 && xhr.status < 300;
        item.className = ok ? "ok" : "failed";
        state.textContent = " " + (xhr.responseText || (ok ? "queued" : "failed (" + xhr.status + ")"));
        resolve(ok);
      });
      xhr.addEventListener("error", () => {
        item.className = "failed";
        state.textContent = " the upload was interrupted; try again";
        resolve(false);
      });
      xhr.send(data);
    });
  }

  async function uploadAll(form, files) {
    const list = form.querySelector("[data-uploads]");
    // Three at a time: many files do not open many connections at once.
    const queue = Array.from(files);
    const workers = Array.from({ length: Math.min(3, queue.length) }, async () => {
      while (queue.length) await uploadOne(form, queue.shift(), list);
    });
    await Promise.all(workers);
    form.elements.file.value = "";
    try { if (await refresh()) keepFresh(); } catch (_) { keepFresh(); }
  }

  function enhanceUpload(form) {
    const zone = form.querySelector("[data-dropzone]");
    form.addEventListener("submit", (e) => {
      const files = form.elements.file.files;
      if (!files || !files.length) return;
      e.preventDefault();
      uploadAll(form, files);
    });
    if (!zone) return;
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer && e.dataTransfer.files.length) uploadAll(form, e.dataTransfer.files);
    });
  }

  function enhanceCopy(button) {
    button.addEventListener("click", async () => {
      const target = document.getElementById(button.dataset.copy);
      if (!target) return;
      const text = target.value !== undefined ? target.value : target.textContent;
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch (_) {
        if (target.select) target.select();
        button.textContent = "Press Ctrl+C to copy";
      }
    });
  }

  // The playground: the answer streams in as text (never markup); once it is done, its [n]
  // markers become links to the cited passages, listed below it.
  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function sourceLabel(c) {
    return "[" + c.n + "] " + c.title + (c.page ? ", page " + c.page : "") + (c.section ? " — " + c.section : "");
  }

  function linkMarkers(said, text, citations) {
    said.textContent = "";
    const byNumber = new Map(citations.map((c) => [String(c.n), c]));
    let last = 0;
    for (const match of text.matchAll(/\[(\d{1,3})\]/g)) {
      const cited = byNumber.get(match[1]);
      if (!cited) continue;
      said.append(text.slice(last, match.index));
      const link = element("a", "marker", match[0]);
      link.href = cited.href;
      said.append(link);
      last = match.index + match[0].length;
    }
    said.append(text.slice(last));
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

  function enhanceAsk(form) {
    const transcript = document.getElementById("transcript");
    form.addEventListener("submit", async (e) => {
      const question = form.elements.question.value.trim();
      if (!question || !window.ReadableStream) return;
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      const asked = element("li", "user");
      asked.append(element("p", "said", question));
      const answer = element("li", "assistant");
      const said = element("p", "said");
      answer.setAttribute("aria-busy", "true");
      answer.append(said);
      transcript.append(asked, answer);
      const body = new URLSearchParams(new FormData(form));
      form.elements.question.value = "";
      let text = "";
      let citations = [];
      try {
        const response = await fetch(form.dataset.stream, {
          method: "POST",
          body,
          credentials: "same-origin",
          headers: { accept: "text/event-stream" },
        });
        if (!response.ok || !response.body) throw new Error("the answer could not start (" + response.status + ")");
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        const buffer = { text: "" };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer.text += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          for (const event of events(buffer)) {
            if (event.type === "conversation") {
              form.elements.conversation.value = event.data;
              const url = new URL(location.href);
              url.searchParams.set("conversation", event.data);
              history.replaceState(null, "", url);
            } else if (event.type === "delta") {
              const piece = JSON.parse(event.data).text;
              text += piece;
              said.append(piece);
            } else if (event.type === "citations") {
              citations = JSON.parse(event.data).citations;
            } else if (event.type === "error") {
              answer.append(element("p", "error", JSON.parse(event.data).message));
            }
          }
        }
        if (citations.length) {
          linkMarkers(said, text, citations);
          const list = element("ol", "sources plain");
          for (const c of citations) {
            const item = element("li");
            const link = element("a", "", sourceLabel(c));
            link.href = c.href;
            item.append(link);
            list.append(item);
          }
          answer.append(list);
        }
      } catch (error) {
        answer.append(element("p", "error", String(error.message || error)));
      } finally {
        answer.removeAttribute("aria-busy");
        button.disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const ask = document.getElementById("ask");
    if (ask && ask.dataset.stream) enhanceAsk(ask);
    const form = document.getElementById("upload");
    if (form) enhanceUpload(form);
    document.querySelectorAll("button[data-copy]").forEach(enhanceCopy);
    if (document.querySelector("[data-live][data-pending]")) keepFresh();
  });
})();
