/*! kontakt web chat widget. Embed with one tag:
 *  <script src="https://HOST/chat/widget.js" data-tenant="kobenhavn" async></script>
 * Optional: data-transport="http" (skip the WebSocket, e.g. behind proxies that block it).
 *
 * Rules kept here: all text goes into the page with textContent (never innerHTML), links are
 * only http(s), everything lives in a shadow root so the host page's CSS cannot break it.
 */
(function () {
  "use strict";
  if (window.__kontaktWidget) return;
  var script = document.currentScript || document.querySelector('script[src*="/chat/widget.js"]');
  if (!script) return;
  window.__kontaktWidget = true;

  // ---- configuration ------------------------------------------------------------------------
  var SRC = new URL(script.src, location.href);
  var BASE = SRC.origin + SRC.pathname.replace(/\/chat\/widget\.js$/, "");
  var WS_BASE = BASE.replace(/^http/, "ws");
  var TENANT = script.getAttribute("data-tenant") || "";
  var FORCE_HTTP = script.getAttribute("data-transport") === "http";
  var KEY = "kontakt:" + (TENANT || "default");
  var HUMAN_PAYLOAD = "/dialog_menneske";
  var POLL_MS = 3000;
  var REPLY_TIMEOUT_MS = 12000;
  var MAX_CHARS = 2000;

  // ---- citizen-facing Danish text -------------------------------------------------------------
  var T = {
    launcher: "Skriv med os",
    title: "Skriv med kommunen",
    close: "Luk chatten",
    intro: "Du skriver med kommunens digitale assistent. Skriv ikke dit CPR-nummer eller oplysninger om dit helbred her.",
    log: "Samtale",
    inputLabel: "Din besked",
    placeholder: "Skriv dit spørgsmål her …",
    send: "Send",
    human: "Tal med en medarbejder",
    end: "Afslut samtale",
    actions: "Handlinger i chatten",
    call112: "Ring 112",
    staffAlerted: "Kommunens medarbejdere har fået besked om din henvendelse.",
    whoUser: "Du",
    whoBot: "Kommunens assistent",
    whoAgent: function (name) { return name ? name + ", medarbejder" : "Medarbejder"; },
    whoSystem: "Besked",
    typing: "Kommunens assistent skriver …",
    sendFailed: "Beskeden kunne ikke sendes. Tjek din forbindelse, og prøv igen.",
    tooLong: "Beskeden er for lang. Skriv den gerne kortere.",
    choices: "Vælg et emne",
    newWindow: " (åbner i et nyt vindue)",
    queue: function (n) { return "Du er nummer " + n + " i køen."; },
    closed: function (when) {
      return "Der er lukket for chat med en medarbejder lige nu." + (when ? " Vi åbner igen " + when + "." : "");
    },
    closedOptions: "Du kan lægge en besked eller bede om at blive ringet op.",
    leaveMessage: "Læg en besked",
    callMe: "Bliv ringet op",
    phone: "Telefonnummer (8 cifre)",
    phoneOptional: "Telefonnummer (valgfrit)",
    message: "Din besked",
    messageOptional: "Hvad drejer det sig om? (valgfrit)",
    submit: "Send",
    cancel: "Annullér",
    phoneInvalid: "Skriv et telefonnummer med 8 cifre.",
    messageRequired: "Skriv din besked.",
    requestFailed: "Det lykkedes ikke at sende. Prøv igen.",
    feedbackTitle: "Hvordan gik det?",
    feedbackIntro: "Svar gerne på tre korte spørgsmål. Det tager under et minut. Du kan også springe over.",
    // Seed 003 §3.4 (digital feedback, 1–10), adapted to chat; "afklaring" as in the phone spec §3.3.
    questions: [
      { id: "tilfredshed", text: "Hvor tilfreds er du samlet set med samtalen?", low: "1 = meget utilfreds", high: "10 = meget tilfreds" },
      { id: "afklaring", text: "I hvor høj grad fik du afklaret det, du henvendte dig om?", low: "1 = slet ikke", high: "10 = i meget høj grad" },
      { id: "sprog", text: "I hvor høj grad synes du, at sproget i svarene var let at forstå?", low: "1 = slet ikke", high: "10 = i meget høj grad" }
    ],
    comment: "Har du yderligere feedback til, hvordan chatten kan forbedres? (valgfrit)",
    feedbackSend: "Send svar",
    feedbackSkip: "Spring over",
    feedbackNeedOne: "Vælg mindst ét svar, eller spring over.",
    thanks: "Tak for din feedback.",
    thanksSkip: "Tak for samtalen.",
    newChat: "Start ny samtale",
    crisisTitle: "Vigtig besked fra kommunen"
  };

  // ---- small DOM helpers (textContent only) ---------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") node.textContent = v;
        else if (k === "className") node.className = v;
        else if (k.indexOf("on") === 0) throw new Error("no inline handlers");
        else node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function safeUrl(raw) {
    try {
      var u = new URL(String(raw));
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(url, label) {
    var href = safeUrl(url);
    if (!href) return document.createTextNode(label || String(url));
    return el("a", { href: href, target: "_blank", rel: "noopener noreferrer" },
      [label || href, el("span", { className: "kontakt-sr", text: T.newWindow })]);
  }

  var URL_RE = /(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)»\]])/g;
  var BOLD_RE = /\*\*([^*]+)\*\*/g;

  // Inline markup the bot uses: **bold** and bare http(s) URLs. Everything else is plain text.
  function inline(parent, text) {
    var parts = String(text).split(URL_RE);
    parts.forEach(function (part, i) {
      if (i % 2 === 1) { parent.appendChild(link(part)); return; }
      var bits = part.split(BOLD_RE);
      bits.forEach(function (bit, j) {
        if (!bit) return;
        parent.appendChild(j % 2 === 1 ? el("strong", { text: bit }) : document.createTextNode(bit));
      });
    });
  }

  // Paragraphs, "- " bullet lists and "1. " numbered lists, as the knowledge articles write them.
  function renderText(text) {
    var box = el("div", { className: "kontakt-text" });
    String(text || "").split(/\n{2,}/).forEach(function (block) {
      var runs = [];
      block.split("\n").forEach(function (line) {
        var kind = /^\s*[-*•]\s+/.test(line) ? "ul" : /^\s*\d+[.)]\s+/.test(line) ? "ol" : "p";
        var content = line.replace(/^\s*(?:[-*•]|\d+[.)])\s+/, "");
        if (kind === "p") content = line;
        if (runs.length && runs[runs.length - 1].kind === kind) runs[runs.length - 1].lines.push(content);
        else runs.push({ kind: kind, lines: [content] });
      });
      runs.forEach(function (run) {
        if (run.kind === "p") {
          var p = el("p");
          run.lines.forEach(function (l, i) {
            if (i) p.appendChild(el("br"));
            inline(p, l);
          });
          if (p.textContent.trim()) box.appendChild(p);
        } else {
          var list = el(run.kind);
          run.lines.forEach(function (l) { var li = el("li"); inline(li, l); list.appendChild(li); });
          box.appendChild(list);
        }
      });
    });
    return box;
  }

  // ---- state --------------------------------------------------------------------------------
  var store = {
    get: function (k) { try { return localStorage.getItem(KEY + ":" + k); } catch (e) { return null; } },
    set: function (k, v) { try { localStorage.setItem(KEY + ":" + k, v); } catch (e) { /* private mode */ } },
    del: function (k) { try { localStorage.removeItem(KEY + ":" + k); } catch (e) { /* private mode */ } }
  };
  var session = store.get("session");
  var seen = {};
  var lastId = 0;
  var pending = {}; // client_message_id -> {text, sentAt}
  var transport = FORCE_HTTP ? "http" : "ws";
  var ws = null;
  var wsTries = 0;
  var pollTimer = null;
  var historyLoaded = null;
  var isOpen = false;
  var ended = false;

  function newId() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function setSession(id) {
    if (id === session) return;
    session = id;
    seen = {};
    lastId = 0;
    if (id) store.set("session", id); else store.del("session");
  }

  // ---- DOM ------------------------------------------------------------------------------------
  var host = el("div", { id: "kontakt-chat", "data-transport": transport });
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "/chat/widget.css" }));

  var launcher = el("button", { type: "button", className: "kontakt-launcher", id: "kontakt-launcher",
    "aria-expanded": "false", "aria-controls": "kontakt-panel" }, [bubbleIcon(), el("span", { text: T.launcher })]);
  var closeBtn = el("button", { type: "button", className: "kontakt-close", "aria-label": T.close },
    [el("span", { "aria-hidden": "true", text: "×" })]);
  var title = el("h2", { id: "kontakt-title", text: T.title });
  var log = el("div", { className: "kontakt-log", id: "kontakt-log", role: "log", "aria-live": "polite",
    "aria-relevant": "additions", "aria-label": T.log, tabindex: "0" });
  var status = el("p", { className: "kontakt-status", role: "status", "aria-live": "polite" });
  var humanBtn = el("button", { type: "button", className: "kontakt-action", "data-action": "human", text: T.human });
  var endBtn = el("button", { type: "button", className: "kontakt-action kontakt-action--quiet", "data-action": "end", text: T.end });
  var actions = el("div", { className: "kontakt-actions", role: "group", "aria-label": T.actions }, [humanBtn, endBtn]);
  var input = el("textarea", { id: "kontakt-input", rows: "2", maxlength: String(MAX_CHARS),
    placeholder: T.placeholder, autocomplete: "off" });
  var sendBtn = el("button", { type: "submit", className: "kontakt-send", text: T.send });
  var compose = el("form", { className: "kontakt-compose", novalidate: true }, [
    el("label", { for: "kontakt-input", className: "kontakt-sr", text: T.inputLabel }), input, sendBtn]);
  var feedbackBox = el("div", { className: "kontakt-feedback", hidden: true });
  // Crisis mode: the municipality's message stays on top while a crisis is on (/chat/api/crisis).
  var crisisBox = el("div", { className: "kontakt-crisis", id: "kontakt-crisis", role: "status", hidden: true });
  var panel = el("section", { className: "kontakt-panel", id: "kontakt-panel", role: "dialog",
    "aria-modal": "false", "aria-labelledby": "kontakt-title", hidden: true }, [
    el("header", { className: "kontakt-header" }, [title, closeBtn]),
    crisisBox,
    el("p", { className: "kontakt-intro", text: T.intro }),
    log, status, feedbackBox, actions, compose]);
  var wrap = el("div", { className: "kontakt", lang: "da" }, [launcher, panel]);
  root.appendChild(wrap);

  // The municipality's own name, colour and greeting (knowledge/tenants.yaml, GET /chat/api/config);
  // until it arrives, or if it cannot, the widget's own.
  api("GET", "/chat/api/config", null, TENANT ? { tenant: TENANT } : null).then(function (cfg) {
    if (cfg.name) title.textContent = cfg.name;
    if (cfg.colour && /^#[0-9a-fA-F]{6}$/.test(cfg.colour)) host.style.setProperty("--k-blue", cfg.colour);
    var intro = panel.querySelector(".kontakt-intro");
    if (intro && cfg.greeting && cfg.greeting.da) intro.textContent = cfg.greeting.da + " " + T.intro;
  }).catch(function () { /* the widget's own look */ });

  function bubbleIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  // ---- rendering ------------------------------------------------------------------------------
  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function bubble(kind, who, children) {
    var node = el("div", { className: "kontakt-msg kontakt-msg--" + kind });
    if (who) node.appendChild(el("p", { className: "kontakt-who", text: who }));
    children.forEach(function (c) { if (c) node.appendChild(c); });
    // What the server stored before the citizen's unconfirmed message (e.g. the crisis message a
    // new conversation opens with) goes before it, so the log keeps the server's order.
    var waiting = kind === "user" ? null : log.querySelector(".kontakt-msg[data-cmid]:not([data-id]):not(.kontakt-msg--failed)");
    if (waiting) log.insertBefore(node, waiting); else log.appendChild(node);
    return node;
  }

  function showCrisis(res) {
    while (crisisBox.firstChild) crisisBox.removeChild(crisisBox.firstChild);
    crisisBox.hidden = !(res && res.active && res.message_da);
    if (crisisBox.hidden) return;
    crisisBox.appendChild(el("p", { className: "kontakt-crisis-title", text: T.crisisTitle }));
    crisisBox.appendChild(renderText(res.message_da));
    if (res.message_en) crisisBox.appendChild(el("div", { lang: "en" }, [renderText(res.message_en)]));
  }

  function loadCrisis() {
    return api("GET", "/chat/api/crisis", null, TENANT ? { tenant: TENANT } : null)
      .then(showCrisis).catch(function () { /* keep what is shown; the next opening asks again */ });
  }

  function renderButtons(buttons) {
    if (!buttons || !buttons.length) return null;
    var group = el("div", { className: "kontakt-choices", role: "group", "aria-label": T.choices });
    buttons.forEach(function (b) {
      var btn = el("button", { type: "button", className: "kontakt-choice", text: b.title });
      btn.addEventListener("click", function () {
        if (ended) return;
        sendText(b.payload, b.title);
        input.focus();
      });
      group.appendChild(btn);
    });
    return group;
  }

  function renderCite(article) {
    if (!article || !article.cite) return null;
    var p = el("p", { className: "kontakt-cite" });
    var cite = String(article.cite);
    var at = article.source ? cite.indexOf(article.source) : -1;
    if (at >= 0 && safeUrl(article.source_url)) {
      p.appendChild(document.createTextNode(cite.slice(0, at)));
      p.appendChild(link(article.source_url, article.source));
      p.appendChild(document.createTextNode(cite.slice(at + article.source.length)));
    } else {
      p.textContent = cite;
    }
    return p;
  }

  function renderSelfService(ss) {
    if (!ss) return null;
    var box = el("div", { className: "kontakt-selfservice" });
    if (ss.steps && ss.steps.length) {
      var ol = el("ol");
      ss.steps.forEach(function (s) { var li = el("li"); inline(li, s); ol.appendChild(li); });
      box.appendChild(ol);
    }
    if (safeUrl(ss.url)) box.appendChild(el("p", { className: "kontakt-sslink" }, [link(ss.url, ss.name)]));
    return box;
  }

  function renderMessage(m) {
    if (m.kind === "user") {
      var mine = m.client_message_id ? log.querySelector('[data-cmid="' + cssId(m.client_message_id) + '"]') : null;
      if (mine) {
        mine.setAttribute("data-id", m.id);
        mine.classList.remove("kontakt-msg--failed");
        return;
      }
      var u = bubble("user", T.whoUser, [renderText(m.text)]);
      if (m.id) u.setAttribute("data-id", m.id);
      if (m.client_message_id) u.setAttribute("data-cmid", m.client_message_id);
      return u;
    }
    if (m.kind === "bot" && m.action === "emergency") {
      // Acute danger: an unmistakable alert with 112 one tap away (tel: link on phones).
      var urgent = bubble("bot", T.whoBot, [renderText(m.text),
        el("p", {}, [el("a", { className: "kontakt-112", href: "tel:112", text: T.call112 })]),
        el("p", { className: "kontakt-alerted", text: T.staffAlerted })]);
      urgent.classList.add("kontakt-msg--emergency");
      urgent.setAttribute("role", "alert");
      return urgent;
    }
    if (m.kind === "bot") {
      return bubble("bot", T.whoBot, [renderText(m.text), renderCite(m.article),
        renderSelfService(m.selfservice), renderButtons(m.buttons)]);
    }
    if (m.kind === "agent") {
      return bubble("agent", T.whoAgent(m.author), [renderText(m.text), renderButtons(m.buttons)]);
    }
    if (m.kind === "system") {
      var text = m.text || (m.queue_position ? T.queue(m.queue_position) : "");
      return bubble("system", null, [renderText(text)]);
    }
    if (m.kind === "closed") return renderClosed(m);
    return null;
  }

  function cssId(s) { return String(s).replace(/[^A-Za-z0-9_.:-]/g, ""); }

  // New replies are scrolled into view from their start (a long answer is read from the top).
  function handleMessages(list, toBottom) {
    var firstReply = null;
    (list || []).forEach(function (m) {
      if (m.id && seen[m.id]) return;
      if (m.id) { seen[m.id] = true; lastId = Math.max(lastId, m.id); }
      if (m.kind === "user" && m.client_message_id) delete pending[m.client_message_id];
      if (m.kind !== "user") setBusy(false);
      var node = renderMessage(m);
      if (node && m.kind !== "user" && !firstReply) firstReply = node;
    });
    if (firstReply && !toBottom) log.scrollTop = Math.max(0, firstReply.offsetTop - 8);
    else if (toBottom) scrollDown();
  }

  function setBusy(on) {
    status.textContent = on ? T.typing : "";
    log.setAttribute("aria-busy", on ? "true" : "false");
  }

  function showError(text) {
    setBusy(false);
    status.textContent = text;
  }

  // ---- out of hours ---------------------------------------------------------------------------
  function renderClosed(m) {
    var node = bubble("system", null, [renderText(m.text || T.closed(m.opens_at_text)),
      el("p", { text: T.closedOptions })]);
    var btnMsg = el("button", { type: "button", className: "kontakt-choice", text: T.leaveMessage });
    var btnCall = el("button", { type: "button", className: "kontakt-choice", text: T.callMe });
    var row = el("div", { className: "kontakt-choices" }, [btnMsg, btnCall]);
    node.appendChild(row);
    btnMsg.addEventListener("click", function () { contactForm(node, row, "message"); });
    btnCall.addEventListener("click", function () { contactForm(node, row, "callback"); });
    return node;
  }

  function contactForm(node, row, kind) {
    var old = node.querySelector("form");
    if (old) old.remove();
    var fid = "kontakt-" + kind + "-" + newId().slice(0, 6);
    var phone = el("input", { id: fid + "-phone", type: "tel", inputmode: "tel", autocomplete: "tel", maxlength: "20" });
    var text = el("textarea", { id: fid + "-text", rows: "3", maxlength: "2000" });
    var err = el("p", { className: "kontakt-error", role: "alert" });
    var submit = el("button", { type: "submit", className: "kontakt-send", text: T.submit });
    var cancel = el("button", { type: "button", className: "kontakt-action kontakt-action--quiet", text: T.cancel });
    var form = el("form", { className: "kontakt-contact", novalidate: true, "aria-label": kind === "callback" ? T.callMe : T.leaveMessage }, [
      el("label", { for: phone.id, text: kind === "callback" ? T.phone : T.phoneOptional }), phone,
      el("label", { for: text.id, text: kind === "callback" ? T.messageOptional : T.message }), text,
      err, el("div", { className: "kontakt-row" }, [submit, cancel])]);
    cancel.addEventListener("click", function () { form.remove(); row.querySelector("button").focus(); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var p = phone.value.replace(/[\s-]/g, "");
      phone.removeAttribute("aria-invalid");
      text.removeAttribute("aria-invalid");
      if ((kind === "callback" || p) && !/^(\+45)?\d{8}$/.test(p)) {
        err.textContent = T.phoneInvalid; phone.setAttribute("aria-invalid", "true"); phone.focus(); return;
      }
      if (kind === "message" && !text.value.trim()) {
        err.textContent = T.messageRequired; text.setAttribute("aria-invalid", "true"); text.focus(); return;
      }
      api("POST", "/chat/api/contact-requests", { session: session, kind: kind, phone: p || null, text: text.value.trim() || null })
        .then(function (res) { form.remove(); row.remove(); handleMessages(res.messages); input.focus(); })
        .catch(function () { err.textContent = T.requestFailed; });
    });
    node.appendChild(form);
    phone.focus();
  }

  // ---- feedback after "Afslut samtale" ---------------------------------------------------------
  function showFeedback() {
    ended = true;
    compose.hidden = true;
    actions.hidden = true;
    log.hidden = true;
    setBusy(false);
    while (feedbackBox.firstChild) feedbackBox.removeChild(feedbackBox.firstChild);
    var heading = el("h3", { tabindex: "-1", id: "kontakt-feedback-title", text: T.feedbackTitle });
    var err = el("p", { className: "kontakt-error", role: "alert" });
    var form = el("form", { className: "kontakt-feedback-form", novalidate: true, "aria-labelledby": "kontakt-feedback-title" });
    form.appendChild(el("p", { text: T.feedbackIntro }));
    T.questions.forEach(function (q) {
      var fs = el("fieldset", { className: "kontakt-scale" }, [el("legend", { text: q.text })]);
      var scale = el("div", { className: "kontakt-scale-options" });
      for (var i = 1; i <= 10; i++) {
        var id = "kontakt-fb-" + q.id + "-" + i;
        scale.appendChild(el("span", { className: "kontakt-scale-option" }, [
          el("input", { type: "radio", name: q.id, value: String(i), id: id }),
          el("label", { for: id, text: String(i) })]));
      }
      fs.appendChild(scale);
      fs.appendChild(el("p", { className: "kontakt-scale-hint", text: q.low + ", " + q.high }));
      form.appendChild(fs);
    });
    var comment = el("textarea", { id: "kontakt-fb-comment", rows: "2", maxlength: "2000" });
    form.appendChild(el("label", { for: comment.id, text: T.comment }));
    form.appendChild(comment);
    form.appendChild(err);
    var skip = el("button", { type: "button", className: "kontakt-action kontakt-action--quiet", text: T.feedbackSkip });
    form.appendChild(el("div", { className: "kontakt-row" }, [el("button", { type: "submit", className: "kontakt-send", text: T.feedbackSend }), skip]));
    feedbackBox.appendChild(heading);
    feedbackBox.appendChild(form);
    feedbackBox.hidden = false;
    heading.focus();

    skip.addEventListener("click", function () { finish(T.thanksSkip); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var scores = {};
      T.questions.forEach(function (q) {
        var c = form.querySelector('input[name="' + q.id + '"]:checked');
        if (c) scores[q.id] = parseInt(c.value, 10);
      });
      var text = comment.value.trim();
      if (!Object.keys(scores).length && !text) { err.textContent = T.feedbackNeedOne; return; }
      api("POST", "/chat/api/feedback", { session: session, scores: scores, comment: text || null })
        .then(function () { finish(T.thanks); })
        .catch(function () { finish(T.thanks); });
    });
  }

  function finish(message) {
    while (feedbackBox.firstChild) feedbackBox.removeChild(feedbackBox.firstChild);
    var again = el("button", { type: "button", className: "kontakt-send", text: T.newChat });
    var p = el("p", { tabindex: "-1", className: "kontakt-thanks", text: message });
    feedbackBox.appendChild(p);
    feedbackBox.appendChild(again);
    again.addEventListener("click", restart);
    p.focus();
  }

  function restart() {
    disconnect();
    setSession(null);
    pending = {};
    ended = false;
    while (log.firstChild) log.removeChild(log.firstChild);
    feedbackBox.hidden = true;
    while (feedbackBox.firstChild) feedbackBox.removeChild(feedbackBox.firstChild);
    compose.hidden = false;
    actions.hidden = false;
    log.hidden = false;
    historyLoaded = Promise.resolve();
    connect();
    input.focus();
  }

  function endConversation() {
    if (!session || !log.querySelector(".kontakt-msg")) { restart(); return; }
    var sid = session;
    disconnect();
    store.del("session");
    api("POST", "/chat/api/end", { session: sid }).catch(function () { /* the survey still shows */ });
    showFeedback();
  }

  // ---- transport ------------------------------------------------------------------------------
  function api(method, path, body, query) {
    var url = BASE + path + (query ? "?" + new URLSearchParams(query).toString() : "");
    var opts = { method: method, headers: {}, credentials: "omit" };
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error(data.error || String(r.status)); e.status = r.status; e.code = data.error; throw e; }
        return data;
      });
    });
  }

  function loadHistory() {
    if (!session) return Promise.resolve();
    return api("GET", "/chat/api/history", null, { session: session }).then(function (res) {
      if (!res.session) { setSession(null); return; }
      handleMessages(res.messages, true);
    }).catch(function () { /* offline: the next message retries */ });
  }

  function setTransport(kind) {
    transport = kind;
    host.setAttribute("data-transport", kind);
    if (kind === "http") startPolling();
  }

  function connect() {
    if (ended) return;
    if (transport === "http") { startPolling(); flushPending(); return; }
    if (ws && (ws.readyState === 0 || ws.readyState === 1)) return;
    var q = { tenant: TENANT, after: String(lastId) };
    if (session) q.session = session;
    var opened = false;
    var sock;
    try {
      sock = new WebSocket(WS_BASE + "/chat/ws?" + new URLSearchParams(q).toString());
    } catch (e) {
      setTransport("http"); flushPending(); return;
    }
    ws = sock;
    sock.onopen = function () { opened = true; wsTries = 0; host.setAttribute("data-transport", "ws"); };
    sock.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame.type === "session") {
        setSession(frame.session);
        flushPending();
      } else if (frame.type === "error") {
        if (frame.code === "text_too_long") showError(T.tooLong);
        else showError(T.sendFailed);
        if (frame.client_message_id) markFailed(frame.client_message_id);
      } else if (frame.messages) {
        handleMessages(frame.messages);
      }
    };
    sock.onclose = function () {
      if (ws !== sock) return; // replaced or closed on purpose
      ws = null;
      wsTries += 1;
      if (!opened || wsTries > 2) { setTransport("http"); flushPending(); return; }
      if (isOpen && !ended) setTimeout(connect, 1500 * wsTries);
    };
  }

  function disconnect() {
    if (ws) { var s = ws; ws = null; try { s.close(); } catch (e) { /* already closed */ } }
    stopPolling();
  }

  function flushPending() {
    Object.keys(pending).forEach(function (cmid) { deliver(cmid); });
  }

  function deliver(cmid) {
    var p = pending[cmid];
    if (!p) return;
    if (transport === "ws") {
      if (ws && ws.readyState === 1 && session) {
        ws.send(JSON.stringify({ type: "message", text: p.text, client_message_id: cmid }));
        setTimeout(function () {
          // No echo in time: the socket may be half-dead. Resend over HTTP (the server de-duplicates).
          if (pending[cmid] && transport === "ws") { var s = ws; ws = null; if (s) s.close(); setTransport("http"); deliver(cmid); }
        }, REPLY_TIMEOUT_MS);
      } else {
        connect();
      }
      return;
    }
    api("POST", "/chat/api/messages", { session: session, tenant: TENANT || null, text: p.text, client_message_id: cmid })
      .then(function (res) {
        setSession(res.session);
        handleMessages(res.messages);
      })
      .catch(function (e) {
        showError(e.status === 413 ? T.tooLong : T.sendFailed);
        markFailed(cmid);
      });
  }

  function markFailed(cmid) {
    delete pending[cmid];
    var node = log.querySelector('[data-cmid="' + cssId(cmid) + '"]');
    if (node) node.classList.add("kontakt-msg--failed");
  }

  function startPolling() {
    stopPolling();
    pollTimer = setInterval(function () {
      if (!isOpen || !session || ended || transport !== "http") return;
      api("GET", "/chat/api/messages", null, { session: session, after: String(lastId) })
        .then(function (res) { if (res.session) handleMessages(res.messages); })
        .catch(function () { /* try again next tick */ });
    }, POLL_MS);
  }

  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }

  function sendText(text, shown) {
    if (ended) return;
    var cmid = newId();
    pending[cmid] = { text: text };
    var node = bubble("user", T.whoUser, [renderText(shown || text)]);
    node.setAttribute("data-cmid", cmid);
    scrollDown();
    setBusy(true);
    deliver(cmid);
  }

  // ---- open / close / keyboard ------------------------------------------------------------------
  function open(moveFocus) {
    isOpen = true;
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    store.set("open", "1");
    loadCrisis();
    (historyLoaded || (historyLoaded = loadHistory())).then(connect);
    if (moveFocus) (ended ? feedbackBox.querySelector("[tabindex='-1']") || input : input).focus();
  }

  function close() {
    isOpen = false;
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    store.del("open");
    launcher.focus();
  }

  launcher.addEventListener("click", function () { open(true); });
  closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { ev.preventDefault(); close(); }
  });
  humanBtn.addEventListener("click", function () { sendText(HUMAN_PAYLOAD, T.human); input.focus(); });
  endBtn.addEventListener("click", endConversation);
  compose.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim()) { input.focus(); return; }
    input.value = "";
    sendText(text);
    input.focus();
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      compose.requestSubmit ? compose.requestSubmit() : sendBtn.click();
    }
  });

  function mount() {
    document.body.appendChild(host);
    if (session) historyLoaded = loadHistory();
    if (store.get("open") === "1") open(false);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
