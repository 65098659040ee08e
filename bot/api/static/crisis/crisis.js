/* The supervisors' crisis page: switch crisis mode on and off for my municipality, and let
 * agents join the crisis queue. Uses the console's token (sessionStorage, this tab only); every
 * server text goes into the page with textContent. */
(function () {
  "use strict";
  var TOKEN_KEY = "kontakt-agent-token";
  var API = "/agent/api/supervisor/crisis";
  var $ = function (id) { return document.getElementById(id); };
  var state = null;

  function say(text) { $("status").textContent = text; }
  function staff(n) { return n === 1 ? "1 medarbejder" : n + " medarbejdere"; }

  function api(method, path, body) {
    var init = { method: method, headers: { "Authorization": "Bearer " + sessionStorage.getItem(TOKEN_KEY),
      "Accept": "application/json" } };
    if (body) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(API + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error(data.message || String(r.status)); e.status = r.status; throw e; }
        return data;
      });
    });
  }

  function when(iso) {
    return new Date(iso).toLocaleString("da-DK", { dateStyle: "long", timeStyle: "short", timeZone: "Europe/Copenhagen" });
  }

  function option(select, value, label) {
    var o = document.createElement("option");
    o.value = value; o.textContent = label; select.appendChild(o);
  }

  function render(s) {
    state = s;
    var c = s.crisis;
    $("state-word").textContent = s.active ? "slået TIL" : "slået fra";
    $("state-detail").textContent = s.active
      ? "Slået til " + when(c.started_at) + " af " + c.started_by + ". Senest ændret " + when(c.updated_at) + " af " + c.updated_by + "."
      : "Når krisetilstand er slået til, siger chat, telefon og mail beskeden først.";
    $("switch-on").textContent = s.active ? "Gem ændringer" : "Slå krisetilstand til";
    $("switch-off").hidden = !s.active;
    var queue = $("crisis-queue"), join = $("join-queue");
    var chosen = c ? (c.queue || "") : queue.value, source = join.value;
    queue.textContent = ""; join.textContent = "";
    option(queue, "", "Ingen krisekø (de sædvanlige køer)");
    s.queues.forEach(function (q) {
      option(queue, q.id, q.name);
      if (q.id !== (c && c.queue)) option(join, q.id, q.name);
    });
    queue.value = chosen;
    if (source) join.value = source;
    if (c) {
      $("message-da").value = c.message_da;
      $("message-en").value = c.message_en || "";
      $("keywords").value = c.keywords.join(", ");
    }
    $("join").disabled = !(s.active && c.queue);
    var list = $("joined");
    list.textContent = "";
    s.joined.forEach(function (g) {
      var li = document.createElement("li");
      li.textContent = g.agent_id + ": niveau " + g.level + (g.previous === null ? " (ny i køen)" : " (før: " + g.previous + ")");
      list.appendChild(li);
    });
  }

  function load() {
    return api("GET", "").then(function (s) {
      $("login").hidden = true; $("app").hidden = false; render(s);
    }).catch(function (e) {
      $("app").hidden = true; $("login").hidden = false;
      $("login-error").textContent = e.status === 403 ? "Kun supervisorer og administratorer kan styre krisetilstand."
        : (sessionStorage.getItem(TOKEN_KEY) ? "Nøglen blev ikke godkendt." : "");
    });
  }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    load();
  });

  $("crisis-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("form-error").textContent = "";
    var words = $("keywords").value.split(",").map(function (w) { return w.trim(); }).filter(Boolean);
    api("POST", "", { message_da: $("message-da").value, message_en: $("message-en").value.trim() || null,
      queue: $("crisis-queue").value || null, keywords: words })
      .then(function (s) { render(s); say("Krisetilstand er slået til. Alle kanaler siger beskeden først."); })
      .catch(function (e) { $("form-error").textContent = e.message; });
  });

  $("switch-off").addEventListener("click", function () {
    if (!window.confirm("Slå krisetilstand fra? Beskeden forsvinder fra chat, telefon og mail.")) return;
    api("DELETE", "").then(function (s) {
      render(s);
      say("Krisetilstand er slået fra." + (s.restored.length ? " Det tidligere niveau i krisekøen er sat tilbage for " + staff(s.restored.length) + "." : ""));
    }).catch(function (e) { $("form-error").textContent = e.message; });
  });

  $("join-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("join-error").textContent = "";
    api("POST", "/join", { queue: $("join-queue").value, min_level: parseInt($("join-level").value, 10) })
      .then(function (s) { render(s); say(staff(s.added.length) + " er gået med i krisekøen."); })
      .catch(function (e) { $("join-error").textContent = e.message; });
  });

  for (var n = 1; n <= 9; n++) option($("join-level"), String(n), String(n));
  $("join-level").value = "5";
  load();
})();
