/* The editors' page: list the municipality's articles, open one, edit its file, preview the
 * answer to a question, publish, see the history and roll back. Uses the console's token
 * (sessionStorage, this tab only); every server text goes into the page with textContent. */
(function () {
  "use strict";
  var TOKEN_KEY = "kontakt-agent-token";
  var API = "/api/v1/knowledge";
  var $ = function (id) { return document.getElementById(id); };
  var me = null, current = null;  // current: {id, title, local, scope}

  function say(text) { $("status").textContent = text; }

  function api(method, path, params, body, type) {
    var init = { method: method, headers: { "Authorization": "Bearer " + sessionStorage.getItem(TOKEN_KEY),
      "Accept": "application/json" } };
    if (body !== undefined) { init.headers["Content-Type"] = type || "application/json"; init.body = body; }
    var query = params ? "?" + new URLSearchParams(params).toString() : "";
    return fetch(API + path + query, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error(data.message || String(r.status)); e.status = r.status; throw e; }
        return data;
      });
    });
  }

  function when(iso) {
    return new Date(iso).toLocaleString("da-DK", { dateStyle: "long", timeStyle: "short", timeZone: "Europe/Copenhagen" });
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function renderList() {
    var list = $("articles"), words = $("filter").value.trim().toLowerCase();
    list.textContent = "";
    me.articles.forEach(function (a) {
      if (words && (a.title + " " + a.id + " " + a.topic).toLowerCase().indexOf(words) < 0) return;
      var li = el("li"), b = el("button", a.title);
      b.type = "button"; b.dataset.id = a.id;
      if (a.local) b.appendChild(el("span", "Lokal", "badge"));
      if (a.stale_days !== null) b.appendChild(el("span", "Skal gennemgås (" + a.stale_days + " dage over)", "badge stale"));
      b.addEventListener("click", function () { open(a, a.local ? me.tenant : "*"); });
      li.appendChild(b); list.appendChild(li);
    });
  }

  function template(id) {
    return ["---", "tenant: " + me.tenant, "overrides: " + id, "sections: [rules]", "owner: ",
      "reviewed: " + new Date().toISOString().slice(0, 10), "review_interval_days: 180", "sources:",
      "  - title: ", "    url: https://", "---", "## ", "", ""].join("\n");
  }

  function open(a, scope) {
    current = { id: a.id, title: a.title, local: a.local, scope: scope };
    $("editor").hidden = false; $("editor-title").textContent = a.title;
    $("preview-out").hidden = true; $("edit-error").textContent = "";
    $("scope-local").setAttribute("aria-pressed", String(scope !== "*"));
    $("scope-national").setAttribute("aria-pressed", String(scope === "*"));
    var mayWrite = scope !== "*" || me.can_edit_national;
    $("file").readOnly = !mayWrite; $("publish").disabled = !mayWrite;
    $("scope-help").textContent = scope === "*"
      ? (me.can_edit_national ? "Den landsdækkende artikel gælder alle kommuner." : "Den landsdækkende artikel kan kun ændres af en administrator. Skriv kommunens tilføjelse i stedet.")
      : "Kommunens tilføjelse gælder kun borgere i " + me.tenant_name + ".";
    return api("GET", "/articles/" + a.id, { tenant: scope }).then(function (art) {
      $("file").value = art.text; renderHistory(art);
    }).catch(function (e) {
      if (e.status === 404 && scope !== "*") {
        $("file").value = template(a.id); renderHistory({ history: [], version: 0 });
        say("Kommunen har ingen tilføjelse til denne artikel endnu. Udfyld skabelonen.");
      } else { $("edit-error").textContent = e.message; }
    });
  }

  function renderHistory(art) {
    var list = $("history");
    list.textContent = "";
    if (!art.history.length) list.appendChild(el("li", "Ingen ændringer endnu: teksten er filen fra kontakt."));
    art.history.forEach(function (v) {
      var li = el("li", "Version " + v.version + " – " + when(v.created_at) + " – " + v.author + ": " + v.summary
        + (v.version === art.version ? " (gældende)" : ""));
      if (v.version !== art.version && !$("publish").disabled) {
        var b = el("button", "Gå tilbage til version " + v.version);
        b.type = "button"; b.className = "rollback";
        b.addEventListener("click", function () { rollback(v.version); });
        li.appendChild(b);
      }
      list.appendChild(li);
    });
    if (art.history.length && art.version !== 0 && !$("publish").disabled) {
      var li = el("li", "Version 0 – filen fra kontakt"), b = el("button", "Gå tilbage til filen");
      b.type = "button"; b.className = "rollback";
      b.addEventListener("click", function () { rollback(0); });
      li.appendChild(b); list.appendChild(li);
    }
  }

  function reopen(message) {
    return load().then(function () {
      var a = me.articles.filter(function (x) { return x.id === current.id; })[0] || current;
      return open(a, current.scope);
    }).then(function () { say(message); });
  }

  function publish() {
    $("edit-error").textContent = "";
    api("PUT", "/articles/" + current.id, { tenant: current.scope }, $("file").value, "text/markdown; charset=utf-8")
      .then(function (v) { return reopen("Version " + v.version + " er udgivet. Borgerne får den nye tekst nu."); })
      .catch(function (e) { $("edit-error").textContent = e.message; });
  }

  function rollback(n) {
    if (!window.confirm("Udgive version " + n + " igen som den gældende tekst?")) return;
    api("POST", "/articles/" + current.id + "/rollback", { tenant: current.scope, version: String(n) })
      .then(function (v) { return reopen("Version " + n + " er udgivet igen som version " + v.version + "."); })
      .catch(function (e) { $("edit-error").textContent = e.message; });
  }

  function preview() {
    $("edit-error").textContent = "";
    var question = $("question").value.trim();
    if (!question) { $("edit-error").textContent = "Skriv et spørgsmål at prøve med."; return; }
    api("POST", "/preview", { tenant: current.scope }, JSON.stringify({ file: $("file").value, question: question }))
      .then(function (p) {
        $("preview-out").hidden = false;
        $("preview-note").textContent = p.uses_draft ? "Svaret bygger på dit udkast (ikke udgivet)."
          : "Spørgsmålet blev ikke besvaret med denne artikel" + (p.answered_from ? " men med «" + p.answered_from + "»." : ".");
        var box = $("preview-messages");
        box.textContent = "";
        p.messages.forEach(function (m) { box.appendChild(el("p", m)); });
      })
      .catch(function (e) { $("edit-error").textContent = e.message; });
  }

  function load() {
    return api("GET", "/articles").then(function (data) {
      me = data; $("login").hidden = true; $("app").hidden = false; renderList();
    }).catch(function (e) {
      $("app").hidden = true; $("login").hidden = false;
      $("login-error").textContent = e.status === 403 ? "Kun redaktører og administratorer kan redigere artikler."
        : (sessionStorage.getItem(TOKEN_KEY) ? "Nøglen blev ikke godkendt." : "");
      throw e;
    });
  }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    load().catch(function () {});
  });
  $("filter").addEventListener("input", renderList);
  $("scope-local").addEventListener("click", function () { if (current) open(current, me.tenant); });
  $("scope-national").addEventListener("click", function () { if (current) open(current, "*"); });
  $("publish").addEventListener("click", publish);
  $("preview").addEventListener("click", preview);
  load().catch(function () {});
})();
