/* kontakt agent console: vanilla JS, no build step.
 * Every text from the server or a citizen is inserted with textContent (never innerHTML).
 * The token lives in sessionStorage (this tab only); the page polls the API every 2.5 s, and
 * offers arrive live over /agent/api/live (server-sent events read with fetch, so the token
 * goes in the Authorization header as everywhere else). */
(function () {
  "use strict";

  var POLL_MS = 2500;
  var TOKEN_KEY = "kontakt-agent-token";
  var CONTACT_KEY = "kontakt-agent-contact";
  var ALERTS_SEEN_KEY = "kontakt-alerts-seen";

  var LABELS = {
    state: { available: "Klar", busy: "Optaget", after_contact_work: "Efterbehandling", paused: "Pause", offline: "Logget af" },
    role: { agent: "Medarbejder", supervisor: "Supervisor", admin: "Administrator" },
    channel: { voice: "Telefon", chat: "Chat", email: "E-mail" },
    author: { citizen: "Borger", bot: "Bot", agent: "Medarbejder", system: "System" },
    reason: {
      asked_for_human: "Borgeren bad om en medarbejder", sensitive: "Følsom henvendelse",
      casework: "Sagsbehandling (afgørelse, betaling eller sagsstatus)", topic_policy: "Emnet håndteres af en medarbejder",
      low_confidence: "Botten var i tvivl", emergency: "Akut", out_of_hours: "Uden for åbningstid",
      transfer: "Omstillet af en kollega"
    },
    action: {
      answer: "Svarede", selfservice: "Henviste til selvbetjening", clarify: "Spurgte ind",
      handoff: "Sendte videre", out_of_scope: "Uden for område", emergency: "Henviste til 112"
    },
    contactState: {
      bot: "Hos botten", handoff_requested: "Sendes videre", queued: "I kø", offered: "Tilbudt",
      assigned: "Tildelt dig", agent_active: "I gang", message_left: "Besked lagt", callback_requested: "Tilbagekald ønsket",
      abandoned: "Borgeren gik", closed: "Afsluttet"
    },
    outcome: {
      straksafklaret: "Straksafklaret", henvist_til_selvbetjening: "Henvist til selvbetjening",
      vejledt_i_selvbetjening: "Vejledt i selvbetjening", omstillet: "Omstillet til forvaltningen",
      besked_taget: "Besked taget", tilbagekald_aftalt: "Tilbagekald aftalt", moedetid_booket: "Mødetid booket"
    },
    task: { message: "Besked", callback: "Tilbagekald" }
  };

  var state = { me: null, contactId: null, lastTranscriptKey: "", queueNames: {}, timer: null, busy: false, view: "work" };

  function $(id) { return document.getElementById(id); }
  function label(kind, value) { return (LABELS[kind] && LABELS[kind][value]) || value || "–"; }

  function el(tag, opts, children) {
    var node = document.createElement(tag);
    opts = opts || {};
    if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
    if (opts.cls) node.className = opts.cls;
    if (opts.attrs) Object.keys(opts.attrs).forEach(function (k) { node.setAttribute(k, opts.attrs[k]); });
    if (opts.onclick) node.addEventListener("click", opts.onclick);
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fmtTime(iso) {
    if (!iso) return "–";
    return new Date(iso).toLocaleString("da-DK", { timeZone: "Europe/Copenhagen", dateStyle: "short", timeStyle: "short" });
  }

  function fmtWait(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m > 0 ? m + " min " + s + " s" : s + " s";
  }

  function say(text) { $("status").textContent = text; }

  // --- API ---------------------------------------------------------------------------------------

  function ApiError(status, body) {
    this.status = status;
    this.error = body && body.error;
    this.message = (body && body.message) || ("Fejl " + status);
  }

  function api(method, path, body) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    var init = { method: method, headers: { "Authorization": "Bearer " + token, "Accept": "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    // Paths under /api/ (the capacity API) are absolute; the rest belong to /agent/api.
    var url = path.indexOf("/api/") === 0 ? path : "/agent/api" + path;
    return fetch(url, init).then(function (r) {
      if (r.status === 204) return null;
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401) {
          logout("Din adgangsnøgle er ikke gyldig. Log ind igen.");
          throw new ApiError(401, data);
        }
        if (!r.ok) throw new ApiError(r.status, data);
        return data;
      });
    });
  }

  function failed(prefix) {
    return function (err) {
      if (err && err.status === 401) return;
      var msg = err && err.status === 409 ? "Det kan ikke lade sig gøre lige nu: " :
                err && err.status === 403 ? "Det har du ikke adgang til: " : "";
      say(prefix + " " + msg + (err && err.message ? err.message : String(err)));
    };
  }

  // --- login -------------------------------------------------------------------------------------

  function showApp(me) {
    state.me = me;
    $("login").hidden = true;
    $("app").hidden = false;
    $("whoami").hidden = false;
    var supervisor = me.role === "supervisor" || me.role === "admin";
    $("tab-supervisor").hidden = !supervisor;
    $("tab-staffing").hidden = !supervisor;
    $("supervisor-pages").hidden = !supervisor;
    renderMe(me);
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(CONTACT_KEY);
    sessionStorage.removeItem(ALERTS_SEEN_KEY);
    $("alerts").hidden = true;
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
    if (offers) offers.close();
    state.me = null;
    state.contactId = null;
    $("app").hidden = true;
    $("whoami").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  function start() {
    return api("GET", "/me").then(function (me) {
      showApp(me);
      return api("GET", "/queues?all=true");
    }).then(function (data) {
      var select = $("transfer-queue");
      clear(select);
      select.appendChild(el("option", { text: "Vælg kø …", attrs: { value: "" } }));
      data.queues.forEach(function (q) {
        state.queueNames[q.id] = q.name;
        select.appendChild(el("option", { text: q.name, attrs: { value: q.id } }));
      });
      var saved = sessionStorage.getItem(CONTACT_KEY);
      if (saved) state.contactId = saved;
      offers.open();
      poll();
      state.timer = setInterval(poll, POLL_MS);
    });
  }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var token = $("token").value.trim();
    if (!token) { $("login-error").textContent = "Indsæt din adgangsnøgle."; return; }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("login-error").textContent = "";
    start().then(function () {
      say("Du er logget ind som " + state.me.name + ".");
      $("next").focus();
    }).catch(function (err) {
      if (err && err.status !== 401) $("login-error").textContent = err.message || String(err);
    });
  });

  $("logout").addEventListener("click", function () { logout("Du er logget ud af konsollen."); });

  // --- rendering ---------------------------------------------------------------------------------

  function renderMe(me) {
    $("me-name").textContent = me.name;
    $("me-role").textContent = label("role", me.role);
    $("me-tenant").textContent = me.tenant.name;
    $("me-state").textContent = label("state", me.state);
    Array.prototype.forEach.call(document.querySelectorAll(".state-buttons button"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-state") === me.state));
    });
  }

  function renderQueues(queues) {
    var body = $("queues").tBodies[0];
    clear(body);
    if (!queues.length) {
      body.appendChild(el("tr", {}, [el("td", { text: "Du har ingen køer endnu. Bed din supervisor om færdigheder.", attrs: { colspan: "3" } })]));
    }
    queues.forEach(function (q) {
      body.appendChild(el("tr", { attrs: { "data-queue": q.id } }, [
        el("th", { text: q.name, attrs: { scope: "row" } }),
        el("td", { text: q.waiting, cls: "num waiting" }),
        el("td", { text: fmtWait(q.oldest_wait_seconds), cls: "num" })
      ]));
    });
  }

  // Live offers (offers.js): made once the helpers below exist.
  var offers = null;

  function renderMine(contacts) {
    var list = $("mine");
    clear(list);
    if (!contacts.length) list.appendChild(el("li", { text: "Ingen.", cls: "help" }));
    contacts.forEach(function (c) {
      list.appendChild(el("li", {}, [
        el("button", { text: "Åbn: " + label("channel", c.channel) + " · " + (state.queueNames[c.queue_id] || c.queue_id || "") +
          (c.citizen_name ? " · " + c.citizen_name : ""), attrs: { type: "button" }, onclick: function () {
          state.contactId = c.id;
          sessionStorage.setItem(CONTACT_KEY, c.id);
          refreshContact(true);
        } })
      ]));
    });
  }

  function renderTasks(tasks) {
    var list = $("tasks");
    clear(list);
    if (!tasks.length) list.appendChild(el("li", { text: "Ingen åbne opgaver.", cls: "help" }));
    tasks.forEach(function (t) {
      list.appendChild(el("li", {}, [
        el("strong", { text: label("task", t.kind) }),
        el("span", { text: (t.name ? t.name + ", " : "") + t.phone + " · frist " + fmtTime(t.due_at) }),
        el("span", { text: t.note, cls: "help" })
      ]));
    });
  }

  function safeUrl(url) {
    try {
      var u = new URL(url);
      return (u.protocol === "https:" || u.protocol === "http:") ? u.href : null;
    } catch (e) { return null; }
  }

  function setText(id, text) { $(id).textContent = (text === null || text === undefined || text === "") ? "–" : text; }

  function renderPacket(detail) {
    var p = detail.packet, c = detail.contact;
    setText("p-state", label("contactState", c.state) + (c.outcome ? " (" + label("outcome", c.outcome) + ")" : ""));
    setText("p-summary", p ? p.summary : "");
    setText("p-topic", p && p.topic ? p.topic.title : c.topic);
    setText("p-reason", p ? label("reason", p.reason) : "");
    setText("p-channel", label("channel", c.channel) + " · " + (state.queueNames[c.queue_id] || c.queue_id || "–"));
    setText("p-deadline", p && p.deadline ? fmtTime(p.deadline) : (c.sla_due_at ? fmtTime(c.sla_due_at) : "Ingen frist"));
    if (p) {
      var id = p.identity, parts = [id.name, id.phone, id.email].filter(Boolean);
      setText("p-identity", (parts.join(" · ") || "Ukendt") + (id.authenticated ? " · logget ind med MitID" : " · ikke logget ind"));
      setText("p-entities", p.entities.map(function (e) { return e.entity + ": " + e.value; }).join("\n"));
      var bot = $("p-bot");
      clear(bot);
      if (!p.bot_actions.length) bot.textContent = "–";
      p.bot_actions.forEach(function (a) {
        var line = el("div", { text: label("action", a.action) + (a.topic ? " (" + a.topic + ")" : "") });
        if (a.article) {
          line.appendChild(document.createTextNode(" · "));
          var href = a.article.source_url && safeUrl(a.article.source_url);
          var cite = href ? el("a", { text: a.article.title, attrs: { href: href, target: "_blank", rel: "noopener noreferrer" } })
                          : el("span", { text: a.article.title });
          line.appendChild(cite);
          line.appendChild(el("span", { text: " (kilde: " + a.article.source + ", gennemgået " + a.article.reviewed + ")", cls: "help" }));
        }
        bot.appendChild(line);
      });
      setText("p-history", p.history.map(function (h) {
        return fmtTime(h.date) + " · " + label("channel", h.channel) + " · " + (h.topic || "–") + (h.outcome ? " · " + label("outcome", h.outcome) : "");
      }).join("\n") || "Ingen");
      setText("p-note", p.note);
    }
    $("p-redacted").textContent = detail.revealed
      ? "Borgeren er logget ind med MitID, og henvendelsen er tildelt dig: personoplysninger vises."
      : "Personnumre, telefonnumre og e-mailadresser er skjult i samtalen.";
    var mine = c.mine;
    $("reply-form").hidden = !mine;
    $("transfer-form").hidden = !mine;
    $("close-form").hidden = !mine;
  }

  function renderTranscript(detail) {
    var key = detail.revealed + ":" + detail.transcript.map(function (m) { return m.id; }).join(",");
    if (key === state.lastTranscriptKey) return;
    state.lastTranscriptKey = key;
    var list = $("transcript");
    clear(list);
    detail.transcript.forEach(function (m) {
      list.appendChild(el("li", { cls: m.author }, [
        el("span", { text: label("author", m.author), cls: "who" }),
        el("span", { text: m.text, cls: "text" }),
        el("span", { text: fmtTime(m.at), cls: "when" })
      ]));
    });
    list.scrollTop = list.scrollHeight;
  }

  function openDetail(detail) {
    if (!detail) return;
    state.contactId = detail.contact.id;
    sessionStorage.setItem(CONTACT_KEY, detail.contact.id);
    state.lastTranscriptKey = "";
    showDetail(detail);
    say("Henvendelsen er åben: " + (detail.packet ? detail.packet.summary : ""));
    $("contact").focus();
  }

  function showDetail(detail) {
    $("contact-empty").hidden = true;
    $("contact-body").hidden = false;
    renderPacket(detail);
    renderTranscript(detail);
  }

  function closeDetail() {
    state.contactId = null;
    state.lastTranscriptKey = "";
    sessionStorage.removeItem(CONTACT_KEY);
    $("contact-body").hidden = true;
    $("contact-empty").hidden = false;
  }

  function refreshContact(focus) {
    if (!state.contactId) return Promise.resolve();
    return api("GET", "/contacts/" + encodeURIComponent(state.contactId)).then(function (d) {
      showDetail(d);
      if (focus) $("contact").focus();
    }).catch(function (err) {
      if (err && (err.status === 404 || err.status === 403)) closeDetail();
    });
  }

  // --- supervisor --------------------------------------------------------------------------------

  function renderOverview(ov) {
    var qb = $("sv-queues").tBodies[0];
    clear(qb);
    ov.queues.forEach(function (q) {
      var staffed = Object.keys(q.agents).map(function (s) { return label("state", s) + ": " + q.agents[s]; }).join(", ");
      qb.appendChild(el("tr", { attrs: { "data-queue": q.id } }, [
        el("th", { text: q.name, attrs: { scope: "row" } }),
        el("td", { text: q.waiting, cls: "num" }),
        el("td", { text: fmtWait(q.oldest_wait_seconds), cls: "num" }),
        el("td", { text: q.in_progress, cls: "num" }),
        el("td", { text: staffed || "Ingen" })
      ]));
    });
    var ab = $("sv-agents").tBodies[0];
    clear(ab);
    ov.agents.forEach(function (a) {
      var select = el("select", { attrs: { "aria-label": "Ny status for " + a.name } }, ["available", "paused", "offline"].map(function (s) {
        return el("option", { text: label("state", s), attrs: { value: s } });
      }));
      ab.appendChild(el("tr", { attrs: { "data-agent": a.id } }, [
        el("th", { text: a.name, attrs: { scope: "row" } }),
        el("td", { text: label("role", a.role) }),
        el("td", { text: label("state", a.state), cls: "state" }),
        el("td", { text: fmtTime(a.since) }),
        el("td", { text: a.active, cls: "num" }),
        el("td", {}, [select, el("button", { text: "Sæt", attrs: { type: "button", "aria-label": "Sæt status for " + a.name }, onclick: function () {
          api("POST", "/supervisor/agents/" + encodeURIComponent(a.id) + "/state", { state: select.value })
            .then(function () { say(a.name + " er nu " + label("state", select.value) + "."); poll(); })
            .catch(failed("Kunne ikke ændre status."));
        } })])
      ]));
    });
  }

  function renderSkills(ov) {
    var table = $("sv-skills");
    clear(table.tHead);
    clear(table.tBodies[0]);
    var head = el("tr", {}, [el("th", { text: "Medarbejder", attrs: { scope: "col" } })]);
    ov.queues.forEach(function (q) { head.appendChild(el("th", { text: q.name, attrs: { scope: "col" } })); });
    head.appendChild(el("th", { text: "", attrs: { scope: "col" } }));
    table.tHead.appendChild(head);
    ov.agents.forEach(function (a) {
      var inputs = {};
      var row = el("tr", { attrs: { "data-agent": a.id } }, [el("th", { text: a.name, attrs: { scope: "row" } })]);
      ov.queues.forEach(function (q) {
        var input = el("input", { attrs: { type: "number", min: "0", max: "9", step: "1", inputmode: "numeric",
          value: String(a.skills[q.id] || 0), "aria-label": a.name + ": " + q.name, "data-queue": q.id } });
        inputs[q.id] = input;
        row.appendChild(el("td", {}, [input]));
      });
      row.appendChild(el("td", {}, [el("button", { text: "Gem", attrs: { type: "button", "aria-label": "Gem færdigheder for " + a.name },
        onclick: function () {
          var body = {}, bad = null;
          Object.keys(inputs).forEach(function (qid) {
            var v = Number(inputs[qid].value);
            if (!Number.isInteger(v) || v < 0 || v > 9) bad = inputs[qid];
            else if (v !== (a.skills[qid] || 0)) body[qid] = v;
          });
          if (bad) { say("Færdigheder skal være hele tal fra 0 til 9."); bad.focus(); return; }
          api("PUT", "/supervisor/agents/" + encodeURIComponent(a.id) + "/skills", body).then(function (updated) {
            a.skills = updated.skills;
            say("Færdigheder for " + a.name + " er gemt.");
          }).catch(failed("Kunne ikke gemme færdigheder."));
        } })]));
      table.tBodies[0].appendChild(row);
    });
  }

  function loadSkills() {
    return api("GET", "/supervisor/overview").then(renderSkills).catch(failed("Kunne ikke hente færdigheder."));
  }

  function showView(view) {
    state.view = view;
    $("work").hidden = view !== "work";
    $("supervisor").hidden = view !== "supervisor";
    $("staffing").hidden = view !== "staffing";
    $("tab-work").setAttribute("aria-pressed", String(view === "work"));
    $("tab-supervisor").setAttribute("aria-pressed", String(view === "supervisor"));
    $("tab-staffing").setAttribute("aria-pressed", String(view === "staffing"));
    if (view === "supervisor") { loadSkills(); poll(); }
    if (view === "staffing" && window.kontaktStaffing) window.kontaktStaffing.show();
  }

  $("tab-work").addEventListener("click", function () { showView("work"); });
  $("tab-supervisor").addEventListener("click", function () { showView("supervisor"); });
  $("tab-staffing").addEventListener("click", function () { showView("staffing"); });
  $("sv-skills-reload").addEventListener("click", loadSkills);

  // --- emergency alerts (supervisors): the bot referred a citizen to 112 ---------------------------

  function isSupervisor() { return !!state.me && (state.me.role === "supervisor" || state.me.role === "admin"); }

  function renderAlerts(items) {
    var seen = Number(sessionStorage.getItem(ALERTS_SEEN_KEY) || 0);
    var fresh = items.filter(function (a) { return a.id > seen; });
    var list = $("alerts-list");
    clear(list);
    fresh.forEach(function (a) {
      list.appendChild(el("li", { attrs: { "data-alert": String(a.id) } }, [
        el("span", { cls: "when", text: fmtTime(a.at) }),
        el("span", { cls: "tag", text: label("channel", a.channel) }),
        el("span", { cls: "excerpt", text: a.excerpt || "–" })
      ]));
    });
    $("alerts").hidden = fresh.length === 0;
    $("alerts").setAttribute("data-newest", fresh.length ? String(fresh[0].id) : "");
  }

  $("alerts-seen").addEventListener("click", function () {
    var newest = $("alerts").getAttribute("data-newest");
    if (newest) sessionStorage.setItem(ALERTS_SEEN_KEY, newest);
    $("alerts").hidden = true;
  });

  // --- polling -----------------------------------------------------------------------------------

  function poll() {
    if (state.busy || !sessionStorage.getItem(TOKEN_KEY)) return;
    state.busy = true;
    var jobs = [
      api("GET", "/me").then(renderMe),
      api("GET", "/queues").then(function (d) { renderQueues(d.queues); }),
      offers.isLive() ? null : api("GET", "/offers").then(function (d) { offers.render(d.offers, null); }),
      api("GET", "/contacts").then(function (d) { renderMine(d.contacts); }),
      api("GET", "/tasks").then(function (d) { renderTasks(d.tasks); }),
      refreshContact(false)
    ];
    if (state.view === "supervisor") jobs.push(api("GET", "/supervisor/overview").then(renderOverview));
    if (isSupervisor()) jobs.push(api("GET", "/supervisor/alerts?limit=5").then(function (d) { renderAlerts(d.items); }));
    Promise.all(jobs.filter(Boolean).map(function (p) { return p.catch(function () {}); }))
      .then(function () { state.busy = false; });
  }

  // --- actions -----------------------------------------------------------------------------------

  function takeNext() {
    say("Henter næste henvendelse …");
    return api("POST", "/next").then(function (detail) {
      if (!detail) { say("Ingen henvendelser venter i dine køer."); return; }
      openDetail(detail);
      poll();
    }).catch(failed("Kunne ikke tage næste."));
  }

  $("next").addEventListener("click", takeNext);

  Array.prototype.forEach.call(document.querySelectorAll(".state-buttons button"), function (b) {
    b.addEventListener("click", function () {
      api("POST", "/state", { state: b.getAttribute("data-state") }).then(function (me) {
        renderMe(me); say("Din status er nu " + label("state", me.state) + ".");
      }).catch(failed("Kunne ikke skifte status."));
    });
  });

  function sendReply() {
    var text = $("reply").value.trim();
    if (!text || !state.contactId) { say("Skriv et svar først."); $("reply").focus(); return; }
    api("POST", "/contacts/" + encodeURIComponent(state.contactId) + "/reply", { text: text }).then(function () {
      $("reply").value = "";
      say("Svaret er sendt.");
      refreshContact(false);
    }).catch(failed("Kunne ikke sende svaret."));
  }

  $("reply-form").addEventListener("submit", function (ev) { ev.preventDefault(); sendReply(); });
  $("reply").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); sendReply(); }
  });

  $("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var queue = $("transfer-queue").value, note = $("transfer-note").value.trim();
    if (!queue || !note) { say("Vælg en kø og skriv en note til kollegaen."); return; }
    api("POST", "/contacts/" + encodeURIComponent(state.contactId) + "/transfer", { queue_id: queue, note: note }).then(function () {
      $("transfer-note").value = "";
      closeDetail();
      say("Henvendelsen er omstillet til " + (state.queueNames[queue] || queue) + ".");
      $("next").focus();
      poll();
    }).catch(failed("Kunne ikke omstille."));
  });

  $("close-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var outcome = $("outcome").value;
    if (!outcome) { say("Vælg en registrering, før du afslutter."); $("outcome").focus(); return; }
    api("POST", "/contacts/" + encodeURIComponent(state.contactId) + "/close", { outcome: outcome }).then(function () {
      $("outcome").value = "";
      closeDetail();
      say("Henvendelsen er afsluttet (" + label("outcome", outcome) + ").");
      $("next").focus();
      poll();
    }).catch(failed("Kunne ikke afslutte."));
  });

  // --- keyboard shortcuts ------------------------------------------------------------------------

  document.addEventListener("keydown", function (ev) {
    if (!state.me || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target, tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
    var key = ev.key.toLowerCase();
    if (key === "n") { ev.preventDefault(); showView("work"); takeNext(); }
    else if (key === "s" && !$("reply-form").hidden && !$("contact-body").hidden) { ev.preventDefault(); $("reply").focus(); }
    else if (key === "a" && !$("close-form").hidden && !$("contact-body").hidden) { ev.preventDefault(); $("outcome").focus(); }
    else if (key === "o" && !$("tab-supervisor").hidden) { ev.preventDefault(); showView(state.view === "work" ? "supervisor" : "work"); }
    else if (key === "b" && !$("tab-staffing").hidden) { ev.preventDefault(); showView("staffing"); }
  });

  // --- shared with staffing.js (the supervisor's staffing page) -----------------------------------

  window.kontaktConsole = {
    api: api, el: el, clear: clear, label: label, say: say, failed: failed,
    queueNames: function () { return state.queueNames; }
  };

  offers = window.kontaktOffers({
    $: $, api: api, el: el, label: label, say: say, failed: failed, fmtWait: fmtWait, logout: logout,
    openDetail: openDetail, poll: poll, renderMe: renderMe,
    token: function () { return sessionStorage.getItem(TOKEN_KEY); },
    me: function () { return state.me; },
    queueNames: function () { return state.queueNames; }
  });

  // --- boot --------------------------------------------------------------------------------------

  if (sessionStorage.getItem(TOKEN_KEY)) {
    start().catch(function (err) { if (err && err.status !== 401) $("login-error").textContent = err.message || String(err); });
  } else {
    $("token").focus();
  }
})();
