// The mmrag web page: ask (streamed answer), look at cited regions, ingest a folder.
// Plain browser JavaScript against the server's own API; no framework, no build step.
"use strict";

const KEY_STORAGE = "mmrag.apiKey";
const MODEL = "mmrag";
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------------------------ API key
function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function showKeyState() {
  $("key-state").textContent = apiKey() ? "key saved in this browser" : "no key saved";
  $("api-key").value = apiKey() ? "••••••••" : "";
}

async function errorText(response) {
  try {
    const body = await response.json();
    return (body.error && body.error.message) || response.statusText;
  } catch {
    return response.statusText || `HTTP ${response.status}`;
  }
}

// ---------------------------------------------------------------------------------------- ask
let lastAnswer = null;

function baseName(path) {
  return path.split(/[\\/]/).pop();
}

// The answer text with every [n] that cites a source turned into a button showing that source.
function renderAnswer(text, citations) {
  const box = $("answer");
  box.textContent = "";
  const known = new Map(citations.map((c) => [c.n, c]));
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const cite = known.get(Number(match[1]));
    if (!cite) continue;
    box.append(document.createTextNode(text.slice(last, match.index)));
    const button = document.createElement("button");
    button.className = "cite";
    button.textContent = match[0];
    button.title = `${baseName(cite.file)}, page ${cite.page}`;
    button.addEventListener("click", () => showCitation(cite));
    box.append(button);
    last = match.index + match[0].length;
  }
  box.append(document.createTextNode(text.slice(last)));
}

function renderCitations(citations) {
  const list = $("citations");
  list.textContent = "";
  for (const cite of citations) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.n = cite.n;
    button.textContent = `[${cite.n}] ${baseName(cite.file)}, page ${cite.page} (${cite.kind})`;
    button.title = cite.file;
    button.addEventListener("click", () => showCitation(cite));
    item.append(button);
    list.append(item);
  }
}

// Server-sent events of /v1/chat/completions with stream: true, read from a POST with fetch.
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (data === "[DONE]") return;
      if (data) yield JSON.parse(data);
    }
  }
}

async function ask(question) {
  const status = $("answer-status");
  $("answer").textContent = "";
  $("citations").textContent = "";
  status.className = "muted";
  status.textContent = "searching…";
  $("ask-button").disabled = true;
  const started = performance.now();
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: question }] }),
    });
    if (!response.ok) throw new Error(await errorText(response));
    let text = "";
    for await (const event of sseEvents(response)) {
      if (event.error) throw new Error(event.error.message);
      const delta = event.choices && event.choices[0] && event.choices[0].delta;
      if (delta && delta.content) {
        text += delta.content;
        $("answer").textContent = text;
        status.textContent = "answering…";
      }
      if (event.mmrag) {
        lastAnswer = { text, ...event.mmrag };
        window.mmragAnswer = lastAnswer; // the last answer with its citations, for scripts and tests
        renderAnswer(text, event.mmrag.citations);
        renderCitations(event.mmrag.citations);
      }
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const cites = lastAnswer ? lastAnswer.citations.length : 0;
    status.textContent = lastAnswer && lastAnswer.abstained
      ? `no supporting evidence found (${seconds} s)`
      : `${cites} source${cites === 1 ? "" : "s"} (${seconds} s) — click one to see the cited region`;
  } catch (err) {
    status.className = "error";
    status.textContent = `error: ${err.message}`;
  } finally {
    $("ask-button").disabled = false;
  }
}

// ------------------------------------------------------------------------------ cited regions
let pageUrl = null;

async function showCitation(cite) {
  document.querySelectorAll("#citations button").forEach((b) => b.classList.toggle("active", b.dataset.n == cite.n));
  $("viewer").hidden = false;
  $("viewer-file").textContent = cite.file;
  $("viewer-page").textContent = `page ${cite.page}`;
  const box = $("highlight");
  box.hidden = true;
  const query = new URLSearchParams({ file: cite.file, page: String(cite.page) });
  const response = await fetch(`/v1/pages/image?${query}`, { headers: headers() });
  if (!response.ok) {
    $("viewer-page").textContent = `page ${cite.page}: ${await errorText(response)}`;
    return;
  }
  const scale = Number(response.headers.get("X-Mmrag-Pixels-Per-Point")) || 96 / 72;
  const blob = await response.blob();
  if (pageUrl) URL.revokeObjectURL(pageUrl);
  pageUrl = URL.createObjectURL(blob);
  const img = $("page-image");
  img.onload = () => placeHighlight(img, cite.bbox, scale);
  img.src = pageUrl;
}

// The bbox (PDF points) in percent of the image, so the box follows the image when it is resized.
function placeHighlight(img, bbox, scale) {
  const box = $("highlight");
  if (!bbox || !img.naturalWidth) {
    box.hidden = true;
    return;
  }
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  box.style.left = `${((bbox.x0 * scale) / w) * 100}%`;
  box.style.top = `${((bbox.y0 * scale) / h) * 100}%`;
  box.style.width = `${(((bbox.x1 - bbox.x0) * scale) / w) * 100}%`;
  box.style.height = `${(((bbox.y1 - bbox.y0) * scale) / h) * 100}%`;
  box.dataset.scale = String(scale);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
}

// -------------------------------------------------------------------------------------- ingest
function count(n, word) {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

function showJob(job) {
  const bar = $("job-progress");
  const status = $("job-status");
  const problems = $("job-problems");
  bar.hidden = false;
  if (job.files_total) {
    bar.max = job.files_total;
    bar.value = job.files_done || 0;
  } else {
    bar.removeAttribute("value");
  }
  problems.textContent = "";
  if (job.status === "queued") {
    status.textContent = `queued${job.queue_position ? ` (${job.queue_position} ahead)` : ""}`;
  } else if (job.status === "running") {
    status.textContent = job.files_total == null
      ? "running: finding files…"
      : `running: ${job.files_done || 0}/${count(job.files_total, "file")}`;
  } else if (job.report) {
    const r = job.report;
    bar.max = 1;
    bar.value = 1;
    status.textContent = `${job.status}: ${count(r.files_seen, "file")} seen, ${r.files_ingested} ingested, `
      + `${r.files_unchanged} unchanged, ${r.files_failed.length} failed, ${r.files_skipped.length} skipped; `
      + `${count(r.pages, "page")} in ${r.seconds.toFixed(1)} s`;
    for (const f of [...r.files_failed, ...r.files_skipped]) {
      const li = document.createElement("li");
      li.textContent = `${f.path}: ${f.reason}`;
      problems.append(li);
    }
  } else {
    status.textContent = `${job.status}${job.error ? `: ${job.error}` : ""}`;
  }
  return job.status === "queued" || job.status === "running";
}

async function ingest(path) {
  const status = $("job-status");
  status.className = "muted";
  status.textContent = "submitting…";
  $("job-problems").textContent = "";
  try {
    const response = await fetch("/v1/ingest", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ paths: [path] }),
    });
    if (!response.ok) throw new Error(await errorText(response));
    let job = await response.json();
    while (showJob(job)) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      const poll = await fetch(`/v1/jobs/${encodeURIComponent(job.id)}`, { headers: headers() });
      if (!poll.ok) throw new Error(await errorText(poll));
      job = await poll.json();
    }
  } catch (err) {
    $("job-progress").hidden = true;
    status.className = "error";
    status.textContent = `error: ${err.message}`;
  }
}

// ----------------------------------------------------------------------------------- start-up
async function serverInfo() {
  try {
    const health = await (await fetch("/health")).json();
    $("server-info").textContent = `profile ${health.profile} · ${health.embedder}`
      + (health.auth ? " · API key required" : " · open server");
  } catch {
    $("server-info").textContent = "";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  showKeyState();
  serverInfo();
  $("api-key").addEventListener("focus", (e) => { if (apiKey()) e.target.value = ""; });
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("api-key").value.trim();
    if (value && value !== "••••••••") localStorage.setItem(KEY_STORAGE, value);
    showKeyState();
  });
  $("key-forget").addEventListener("click", () => { localStorage.removeItem(KEY_STORAGE); showKeyState(); });
  $("ask-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const question = $("question").value.trim();
    if (question) ask(question);
  });
  $("ingest-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const path = $("ingest-path").value.trim();
    if (path) ingest(path);
  });
});
