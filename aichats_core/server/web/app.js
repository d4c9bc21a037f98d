// aichats web page: a chat client for the server's own JSON API (/v1/aichats/...).
//
// No framework and no build step. Provider text never goes through innerHTML: the Markdown
// renderer below builds DOM nodes and sets textContent, so an answer holding <script> shows
// as text. The page is served with a strict CSP (no inline script or style), so everything
// here is wired with addEventListener and styled with classes.
"use strict";

(() => {
  const KEY_STORAGE = "aichats.apiKey"; // sessionStorage: this tab only
  const THEME_STORAGE = "aichats.theme"; // localStorage: "light" | "dark"
  const MODEL_STORAGE = "aichats.model"; // localStorage: last chosen model id
  const NARROW = window.matchMedia("(max-width: 760px)");
  const DARK = window.matchMedia("(prefers-color-scheme: dark)");

  const state = {
    conversationId: null,
    controller: null, // the AbortController of the answer being streamed
    models: new Map(), // model id -> {provider, model, image, health}
    keyRequest: null, // a pending Promise for the key dialog
    searchTimer: 0,
    pendingDelete: null,
  };

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ theme

  function storedTheme() {
    const theme = localStorage.getItem(THEME_STORAGE);
    return theme === "dark" || theme === "light" ? theme : null;
  }

  function currentTheme() {
    return storedTheme() || (DARK.matches ? "dark" : "light");
  }

  function applyTheme() {
    const theme = currentTheme();
    document.documentElement.dataset.theme = theme;
    const toggle = $("theme-toggle");
    toggle.setAttribute("aria-pressed", String(theme === "dark"));
    toggle.title = theme === "dark" ? "Dark theme (on)" : "Dark theme (off)";
  }

  function toggleTheme() {
    localStorage.setItem(THEME_STORAGE, currentTheme() === "dark" ? "light" : "dark");
    applyTheme();
  }

  // ------------------------------------------------------------------ API and key

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      const error = (body && body.error) || {};
      super(error.message || `The server answered ${status}.`);
      this.status = status;
      this.type = error.type || "";
      this.code = error.code || "";
      this.retryAfter = retryAfter;
    }
  }

  function authHeaders() {
    const key = sessionStorage.getItem(KEY_STORAGE);
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  // fetch with the bearer key; a 401 asks for the key and tries again with it.
  async function authorizedFetch(path, init = {}) {
    let refused = false;
    for (;;) {
      const headers = { ...(init.headers || {}), ...authHeaders() };
      const response = await fetch(path, { ...init, headers });
      if (response.status !== 401) return response;
      await response.body?.cancel();
      const hadKey = Boolean(sessionStorage.getItem(KEY_STORAGE));
      await requestKey(hadKey || refused ? "That key was refused. Try again." : "");
      refused = true;
    }
  }

  async function errorFrom(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    const header = Number(response.headers.get("Retry-After"));
    return new ApiError(response.status, body, Number.isFinite(header) && header > 0 ? header : null);
  }

  async function api(path, init) {
    const response = await authorizedFetch(path, init);
    if (!response.ok) throw await errorFrom(response);
    return response.status === 204 ? null : response.json();
  }

  function requestKey(message) {
    const dialog = $("key-dialog");
    const error = $("key-error");
    error.textContent = message;
    error.hidden = !message;
    if (!state.keyRequest) {
      state.keyRequest = new Promise((resolve) => {
        state.resolveKey = resolve;
      });
      $("api-key").value = "";
      if (!dialog.open) dialog.showModal();
    }
    $("api-key").focus();
    return state.keyRequest;
  }

  function submitKey(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-dialog").close();
    const resolve = state.resolveKey;
    state.keyRequest = null;
    state.resolveKey = null;
    resolve();
  }

  // ------------------------------------------------------------------ providers and health

  function modelId(provider, model) {
    return model.includes("/") ? model : `${provider}/${model}`;
  }

  function healthText(health) {
    if (!health || health.status === "unknown") return "unknown";
    if (health.status === "cooling" && health.cooling_until) {
      return `cooling until ${clock(health.cooling_until)}`;
    }
    const parts = [health.status];
    if (typeof health.success_rate === "number") {
      parts[0] += ` ${Math.round(health.success_rate * 100)}%`;
    }
    if (typeof health.median_first_event_ms === "number") {
      parts.push(`${Math.round(health.median_first_event_ms)} ms`);
    }
    return parts.join(" · ");
  }

  function modelOption(provider, model) {
    const option = document.createElement("option");
    option.value = model.id;
    option.textContent = `${provider.name} / ${model.model}${model.image ? " (image)" : ""}`;
    return option;
  }

  function fillModelPicker(providers) {
    const select = $("model");
    const previous = select.value || localStorage.getItem(MODEL_STORAGE);
    select.replaceChildren();
    state.models.clear();
    for (const provider of providers) {
      const group = document.createElement("optgroup");
      group.label = provider.working ? provider.name : `${provider.name} (not declared working)`;
      for (const model of provider.models) {
        state.models.set(model.id, { provider: provider.name, ...model });
        group.append(modelOption(provider, model));
      }
      select.append(group);
    }
    if (previous && state.models.has(previous)) select.value = previous;
    showHealth();
  }

  function showHealth() {
    const entry = state.models.get($("model").value);
    const health = entry ? entry.health : null;
    $("health").dataset.status = (health && health.status) || "unknown";
    $("health-text").textContent = healthText(health);
    $("health").title = health && health.last_error ? `last error ${clock(health.last_error)}` : "";
  }

  function chooseModel() {
    localStorage.setItem(MODEL_STORAGE, $("model").value);
    showHealth();
  }

  async function loadProviders() {
    const body = await api("/v1/aichats/providers");
    fillModelPicker(body.providers || []);
  }

  // ------------------------------------------------------------------ time

  function clock(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function shortDate(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    const today = new Date().toDateString() === date.toDateString();
    return today
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleDateString();
  }

  // ------------------------------------------------------------------ sidebar

  function isNarrow() {
    return NARROW.matches;
  }

  function sidebarShown() {
    const app = $("app");
    return isNarrow() ? app.classList.contains("sidebar-open") : !app.classList.contains("sidebar-collapsed");
  }

  function syncSidebarButton() {
    const shown = sidebarShown();
    const toggle = $("toggle-sidebar");
    toggle.setAttribute("aria-expanded", String(shown));
    toggle.setAttribute("aria-label", shown ? "Hide conversations" : "Show conversations");
  }

  function setSidebar(shown) {
    const app = $("app");
    if (isNarrow()) app.classList.toggle("sidebar-open", shown);
    else app.classList.toggle("sidebar-collapsed", !shown);
    syncSidebarButton();
    if (shown && isNarrow()) $("search").focus();
  }

  function closeSidebarIfNarrow() {
    if (isNarrow() && sidebarShown()) setSidebar(false);
  }

  function historyItem(conversation) {
    const item = document.createElement("li");
    item.className = "history-item";
    item.dataset.id = conversation.id;
    if (conversation.id === state.conversationId) item.setAttribute("aria-current", "true");

    const open = document.createElement("button");
    open.type = "button";
    open.className = "history-open";
    const title = document.createElement("span");
    title.className = "history-title";
    title.textContent = conversation.title || "Untitled";
    const meta = document.createElement("span");
    meta.className = "history-meta";
    const turns = `${conversation.turns} turn${conversation.turns === 1 ? "" : "s"}`;
    meta.textContent = [conversation.provider, turns, shortDate(conversation.updated_at)]
      .filter(Boolean)
      .join(" · ");
    open.append(title, meta);
    open.addEventListener("click", () => openConversation(conversation.id));

    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "history-delete";
    remove.setAttribute("aria-label", `Delete “${title.textContent}”`);
    remove.textContent = "×";
    remove.addEventListener("click", () => confirmDelete(conversation));

    item.append(open, remove);
    return item;
  }

  function renderHistory(conversations) {
    $("history").replaceChildren(...conversations.map(historyItem));
    const searching = $("search").value.trim() !== "";
    $("history-empty").textContent = searching ? "No conversation matches." : "No conversations yet.";
    $("history-empty").hidden = conversations.length > 0;
  }

  async function loadHistory() {
    const query = $("search").value.trim();
    const params = new URLSearchParams({ limit: "100" });
    if (query) params.set("q", query);
    const body = await api(`/v1/aichats/conversations?${params}`);
    renderHistory(body.conversations || []);
  }

  function scheduleSearch() {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(() => loadHistory().catch(showStatusError), 200);
  }

  function markCurrent() {
    for (const item of $("history").children) {
      if (item.dataset.id === state.conversationId) item.setAttribute("aria-current", "true");
      else item.removeAttribute("aria-current");
    }
  }

  function confirmDelete(conversation) {
    state.pendingDelete = conversation;
    $("delete-text").textContent = `“${conversation.title || "Untitled"}” and its ${conversation.turns} turn(s) will be removed from the history.`;
    $("delete-dialog").showModal();
    $("delete-cancel").focus();
  }

  async function deleteConversation(event) {
    event.preventDefault();
    const confirmed = event.submitter && event.submitter.value === "delete";
    $("delete-dialog").close();
    const conversation = state.pendingDelete;
    state.pendingDelete = null;
    if (!confirmed || !conversation) return;
    await api(`/v1/aichats/conversations/${encodeURIComponent(conversation.id)}`, { method: "DELETE" });
    if (conversation.id === state.conversationId) newChat();
    setStatus(`Deleted “${conversation.title || "Untitled"}”.`);
    await loadHistory();
  }

  // ------------------------------------------------------------------ conversation view

  function setStatus(text) {
    $("status").textContent = text;
  }

  function showStatusError(error) {
    setStatus(error && error.message ? error.message : String(error));
  }

  function clearLog() {
    $("log").replaceChildren();
  }

  function showWelcome() {
    clearLog();
    const welcome = document.createElement("div");
    welcome.className = "welcome";
    const heading = document.createElement("h2");
    heading.textContent = "Ask anything";
    const text = document.createElement("p");
    text.textContent = "Enter sends, Shift+Enter adds a line, Escape stops an answer.";
    welcome.append(heading, text);
    $("log").append(welcome);
  }

  function newChat() {
    stopAnswer();
    state.conversationId = null;
    showWelcome();
    markCurrent();
    closeSidebarIfNarrow();
    $("prompt").focus();
  }

  function nearBottom(element) {
    return element.scrollHeight - element.scrollTop - element.clientHeight < 80;
  }

  function scrollToEnd() {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
  }

  function appendTurn(prompt) {
    const welcome = $("log").querySelector(".welcome");
    if (welcome) welcome.remove();
    const turn = document.createElement("article");
    turn.className = "turn";
    const user = document.createElement("div");
    user.className = "message user";
    user.textContent = prompt;
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = "You: ";
    user.prepend(label);
    turn.append(user);
    $("log").append(turn);
    return turn;
  }

  // One answer on screen: its text (re-rendered as Markdown), images, notes and trail.
  class AnswerView {
    constructor(turn) {
      this.text = "";
      this.root = document.createElement("div");
      this.root.className = "message assistant pending";
      const label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = "Answer: ";
      this.body = document.createElement("div");
      this.body.className = "answer";
      this.images = document.createElement("div");
      this.images.className = "answer images";
      this.root.append(label, this.body, this.images);
      turn.append(this.root);
      this.frame = 0;
      this.ended = false;
    }

    append(text) {
      this.text += text;
      if (!this.frame) this.frame = requestAnimationFrame(() => this.render());
    }

    setText(text) {
      this.text = text;
      this.render();
    }

    render() {
      if (this.frame) cancelAnimationFrame(this.frame);
      this.frame = 0;
      const follow = nearBottom($("log"));
      this.body.replaceChildren(renderMarkdown(this.text));
      if (follow) scrollToEnd();
    }

    image(url, alt) {
      const figure = imageFigure(url, alt);
      if (figure) this.images.append(figure);
      scrollToEnd();
    }

    note(text, kind) {
      const note = document.createElement("p");
      note.className = kind === "error" ? "note error" : "note";
      note.textContent = text;
      this.root.append(note);
      scrollToEnd();
    }

    trail(provider, model, failures) {
      const meta = document.createElement("p");
      meta.className = "meta";
      meta.textContent = trailText(provider, model, failures);
      this.root.append(meta);
    }

    end() {
      this.ended = true;
      this.render();
      this.root.classList.remove("pending");
    }
  }

  function trailText(provider, model, failures) {
    const who = [provider, model].filter(Boolean).join(" · ");
    const failed = (failures || [])
      .filter((failure) => failure && failure.error)
      .map((failure) => `${failure.provider}: ${failure.error}`);
    return failed.length ? `answered by ${who} after ${failed.join(", ")}` : `answered by ${who}`;
  }

  function imageExtension(url) {
    const match = /^data:image\/([a-z0-9.+-]+)[;,]/i.exec(url);
    const subtype = match ? match[1].toLowerCase() : "png";
    return subtype === "jpeg" ? "jpg" : subtype.replace(/\+xml$/, "");
  }

  // An image this server keeps (one a provider answered as a URL): same origin, so the CSP
  // shows it and the download link works.
  function ownImage(url) {
    try {
      const own = new URL(url, location.href);
      return own.origin === location.origin && own.pathname.startsWith("/v1/images/files/");
    } catch (_) {
      return false;
    }
  }

  function imageFigure(url, alt) {
    if (!/^data:image\/[a-z0-9.+-]+[;,]/i.test(url) && !ownImage(url) && !safeHref(url)) return null;
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = url;
    img.alt = alt || "Generated image";
    const caption = document.createElement("figcaption");
    const link = document.createElement("a");
    link.href = url;
    link.download = `aichats-image.${imageExtension(url)}`;
    link.textContent = "Download image";
    caption.append(link);
    figure.append(img, caption);
    return figure;
  }

  function errorText(event) {
    if (event.error === "RateLimitError" || event.code === "rate_limited") {
      const seconds = Number(event.retry_after);
      if (Number.isFinite(seconds) && seconds > 0) {
        const at = new Date(Date.now() + seconds * 1000).toISOString();
        return `Rate limited: try again in ${Math.ceil(seconds)} s (at ${clock(at)}). ${event.message || ""}`.trim();
      }
      return `Rate limited: try again later. ${event.message || ""}`.trim();
    }
    return [event.error, event.message].filter(Boolean).join(": ") || "The answer failed.";
  }

  function renderTurn(turn) {
    const element = appendTurn(turn.prompt);
    const view = new AnswerView(element);
    const answer = turn.answer || "";
    const placeholder = /^\[image ([\w.+-]+\/[\w.+-]+)\]$/.exec(answer);
    if (/^data:image\//i.test(answer)) view.image(answer, turn.prompt);
    else if (placeholder) view.note(`An image (${placeholder[1]}) was made here; the history does not keep images.`);
    else view.setText(answer);
    for (const url of turn.images || []) view.image(url, turn.prompt);
    if (turn.status === "interrupted") view.note("Stopped before the end; the partial answer is kept.");
    if (turn.status === "failed") view.note(turn.error || "The answer failed.", "error");
    if (turn.provider) view.trail(turn.provider, turn.model, turn.attempts);
    view.end();
  }

  function selectModelOf(turn) {
    if (!turn || !turn.provider || !turn.model) return;
    const id = modelId(turn.provider, turn.model);
    if (state.models.has(id)) {
      $("model").value = id;
      showHealth();
    }
  }

  async function openConversation(id) {
    stopAnswer();
    const conversation = await api(`/v1/aichats/conversations/${encodeURIComponent(id)}`);
    state.conversationId = conversation.id;
    clearLog();
    for (const turn of conversation.turns || []) renderTurn(turn);
    selectModelOf((conversation.turns || []).at(-1));
    markCurrent();
    closeSidebarIfNarrow();
    scrollToEnd();
    setStatus("");
    $("prompt").focus();
  }

  // ------------------------------------------------------------------ chat

  function setStreaming(controller) {
    state.controller = controller;
    $("send").disabled = Boolean(controller);
    $("send").hidden = Boolean(controller);
    $("stop").hidden = !controller;
    setStatus(controller ? "Answering… (Escape stops)" : "");
    // While an answer grows it is re-rendered each frame: a busy log makes screen readers
    // wait and read the finished answer once, instead of again at every frame.
    $("log").setAttribute("aria-busy", controller ? "true" : "false");
  }

  function stopAnswer() {
    if (state.controller) state.controller.abort();
  }

  function chatBody(prompt) {
    const body = { model: $("model").value, prompt, conversation_id: state.conversationId };
    const system = $("system").value.trim();
    body.system = state.conversationId === null && system ? system : null;
    return JSON.stringify(body);
  }

  // Calls onEvent with each `data: <json>` event of a text/event-stream body.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = done ? "" : blocks.pop();
      for (const block of blocks) {
        const data = block
          .split(/\r?\n/)
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) onEvent(JSON.parse(data));
      }
      if (done) return;
    }
  }

  function handleEvent(view, event, outcome) {
    switch (event.type) {
      case "conversation":
        state.conversationId = event.id;
        break;
      case "text":
        view.append(event.text || "");
        break;
      case "image":
        view.image(event.url, $("prompt").dataset.sent);
        break;
      case "finish":
        outcome.finished = true;
        view.end();
        view.trail(event.provider, event.model, event.failures);
        break;
      case "error":
        outcome.finished = true;
        if (event.partial_text && event.partial_text.length > view.text.length) view.setText(event.partial_text);
        view.end();
        view.note(errorText(event), "error");
        if (view.text) view.note("The answer was cut short; the partial text is kept.");
        break;
      default:
        break; // unknown events are for newer pages
    }
  }

  async function streamAnswer(view, prompt, controller) {
    const outcome = { finished: false };
    try {
      const response = await authorizedFetch("/v1/aichats/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: chatBody(prompt),
        signal: controller.signal,
      });
      if (!response.ok) {
        const error = await errorFrom(response);
        view.end();
        view.note(errorText({ error: error.type, code: error.code, message: error.message, retry_after: error.retryAfter }), "error");
        return;
      }
      await readEvents(response, (event) => handleEvent(view, event, outcome));
      if (!outcome.finished) {
        view.end();
        view.note("The stream ended early; the partial answer is kept.", "error");
      }
    } catch (error) {
      view.end();
      if (controller.signal.aborted) view.note("Stopped; the partial answer is kept.");
      else view.note(`The connection was lost (${error.message}); the partial answer is kept.`, "error");
    }
  }

  async function sendPrompt() {
    const input = $("prompt");
    const prompt = input.value.trim();
    if (!prompt || state.controller || !$("model").value) return;
    input.value = "";
    input.dataset.sent = prompt;
    const view = new AnswerView(appendTurn(prompt));
    scrollToEnd();
    const controller = new AbortController();
    setStreaming(controller);
    try {
      await streamAnswer(view, prompt, controller);
    } finally {
      setStreaming(null);
      input.focus();
    }
    await Promise.all([loadHistory(), loadProviders()]).catch(showStatusError);
    if (controller.signal.aborted) refreshUntilListed(state.conversationId);
  }

  // A stopped turn is recorded once the server has noticed the page left: look again a
  // few times until the conversation shows in the sidebar.
  function refreshUntilListed(id, attempt = 0) {
    if (!id || attempt >= 5 || $("history").querySelector(`[data-id="${CSS.escape(id)}"]`)) return;
    setTimeout(() => {
      loadHistory()
        .then(() => refreshUntilListed(id, attempt + 1))
        .catch(showStatusError);
    }, 300 * (attempt + 1));
  }

  // ------------------------------------------------------------------ keyboard and wiring

  function onPromptKey(event) {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.altKey) return;
    event.preventDefault();
    sendPrompt();
  }

  function onDocumentKey(event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (document.querySelector("dialog[open]")) return; // a dialog handles its own Escape
    if (state.controller) {
      event.preventDefault();
      stopAnswer();
      $("prompt").focus();
    } else if (isNarrow() && sidebarShown()) {
      setSidebar(false);
      $("toggle-sidebar").focus();
    }
  }

  function wire() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      sendPrompt();
    });
    $("prompt").addEventListener("keydown", onPromptKey);
    $("stop").addEventListener("click", () => {
      stopAnswer();
      $("prompt").focus();
    });
    document.addEventListener("keydown", onDocumentKey);
    $("model").addEventListener("change", chooseModel);
    $("theme-toggle").addEventListener("click", toggleTheme);
    $("new-chat").addEventListener("click", newChat);
    $("toggle-sidebar").addEventListener("click", () => setSidebar(!sidebarShown()));
    $("close-sidebar").addEventListener("click", () => setSidebar(false));
    $("scrim").addEventListener("click", () => setSidebar(false));
    $("search").addEventListener("input", scheduleSearch);
    $("key-form").addEventListener("submit", submitKey);
    $("key-dialog").addEventListener("cancel", (event) => event.preventDefault());
    $("delete-form").addEventListener("submit", (event) => deleteConversation(event).catch(showStatusError));
    NARROW.addEventListener("change", syncSidebarButton);
    DARK.addEventListener("change", applyTheme);
  }

  async function start() {
    applyTheme();
    wire();
    syncSidebarButton();
    try {
      await Promise.all([loadProviders(), loadHistory()]);
    } catch (error) {
      showStatusError(error);
    }
    document.documentElement.dataset.ready = "true";
    performance.mark("aichats:ready");
    $("prompt").focus();
  }

  // ------------------------------------------------------------------ Markdown, as DOM nodes
  //
  // Paragraphs, line breaks, **bold**, *em*, `code`, fenced code blocks, lists and http(s)
  // links; nothing else. Every piece of provider text ends up in a text node.

  const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)\s*$/;
  const LIST_ITEM = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const BLANK = /^\s*$/;
  const INLINE =
    /(`+)([\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|\*(?=[^\s*])([^*]*?[^\s*])\*|\[([^\]\n]+)\]\(([^()\s]+)\)|(https?:\/\/[^\s<>"]+)/g;

  function safeHref(href) {
    try {
      const url = new URL(href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function element(tag, ...children) {
    const node = document.createElement(tag);
    node.append(...children);
    return node;
  }

  function link(text, href) {
    const anchor = element("a", ...inline(text, false));
    anchor.href = href;
    anchor.rel = "noopener noreferrer";
    anchor.target = "_blank";
    return anchor;
  }

  function bareLink(url) {
    const trimmed = url.replace(/[.,;:!?)\]'"]+$/, "");
    const href = safeHref(trimmed);
    if (!href) return [document.createTextNode(url)];
    const nodes = [link(trimmed, href)];
    if (trimmed.length < url.length) nodes.push(document.createTextNode(url.slice(trimmed.length)));
    return nodes;
  }

  function inlineMatch(match, links) {
    const [, ticks, code, bold, em, linkText, linkHref, bare] = match;
    if (ticks) return [element("code", code)];
    if (bold !== undefined) return [element("strong", ...inline(bold, links))];
    if (em !== undefined) return [element("em", ...inline(em, links))];
    if (linkText !== undefined) {
      const href = safeHref(linkHref);
      return links && href ? [link(linkText, href)] : [document.createTextNode(match[0])];
    }
    if (bare !== undefined) return links ? bareLink(bare) : [document.createTextNode(bare)];
    return [document.createTextNode(match[0])];
  }

  // Nodes for one run of inline text; `links` is false inside a link's own text. A run
  // longer than INLINE_LIMIT stays plain text: the pattern backtracks on unmatched `**`,
  // and a provider's answer must not make each frame take seconds.
  const INLINE_LIMIT = 8000;
  function inline(text, links = true) {
    if (text.length > INLINE_LIMIT) return [document.createTextNode(text)];
    const nodes = [];
    const pattern = new RegExp(INLINE.source, "g");
    let last = 0;
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
      if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
      nodes.push(...inlineMatch(match, links));
      last = pattern.lastIndex;
    }
    if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
    return nodes;
  }

  function inlineLines(lines) {
    const nodes = [];
    lines.forEach((line, index) => {
      if (index > 0) nodes.push(document.createElement("br"));
      nodes.push(...inline(line));
    });
    return nodes;
  }

  function codeBlock(lines, start, fence) {
    const body = [];
    let index = start + 1;
    while (index < lines.length && !lines[index].trim().startsWith(fence[1])) {
      body.push(lines[index]);
      index += 1;
    }
    const code = element("code", body.join("\n"));
    if (fence[2]) code.dataset.language = fence[2];
    return { node: element("pre", code), next: index + 1 };
  }

  function listBlock(lines, start) {
    const ordered = /\d/.test(LIST_ITEM.exec(lines[start])[1]);
    const list = document.createElement(ordered ? "ol" : "ul");
    let index = start;
    let item = null;
    while (index < lines.length && !BLANK.test(lines[index]) && !FENCE.test(lines[index])) {
      const match = LIST_ITEM.exec(lines[index]);
      if (match && /\d/.test(match[1]) !== ordered) break;
      if (match) {
        item = element("li", ...inline(match[2]));
        if (ordered && list.children.length === 0) list.start = parseInt(match[1], 10);
        list.append(item);
      } else {
        item.append(document.createElement("br"), ...inline(lines[index].trim()));
      }
      index += 1;
    }
    return { node: list, next: index };
  }

  function paragraph(lines, start) {
    const body = [];
    let index = start;
    while (
      index < lines.length &&
      !BLANK.test(lines[index]) &&
      !FENCE.test(lines[index]) &&
      !LIST_ITEM.test(lines[index])
    ) {
      body.push(lines[index]);
      index += 1;
    }
    return { node: element("p", ...inlineLines(body)), next: index };
  }

  function renderMarkdown(text) {
    const fragment = document.createDocumentFragment();
    const lines = text.replace(/\r\n?/g, "\n").split("\n");
    let index = 0;
    while (index < lines.length) {
      const line = lines[index];
      if (BLANK.test(line)) {
        index += 1;
        continue;
      }
      const fence = FENCE.exec(line);
      const block = fence
        ? codeBlock(lines, index, fence)
        : LIST_ITEM.test(line)
          ? listBlock(lines, index)
          : paragraph(lines, index);
      fragment.append(block.node);
      index = block.next;
    }
    return fragment;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
