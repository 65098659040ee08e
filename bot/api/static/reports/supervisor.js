/* kontakt supervisor pages (wallboard, reports): what every such page shares. It draws the page
 * head (title, municipality, links to the other pages) and the token login, and fetches the API
 * with the token. The token is the console's (sessionStorage, this tab only); a 401 or 403 forgets
 * it and asks again. Every text from the server is inserted with textContent.
 *
 *   var page = kontaktSupervisor.page({ title: "Rapporter", content: "report",
 *     forbidden: "Rapporterne er kun for supervisorer.", start: show, stop: function () {} });
 *   page.api("/api/v1/stats/live").then(...)      // rejects with Error("login") after a 401/403
 */
(function () {
  "use strict";

  var TOKEN_KEY = "kontakt-agent-token";
  var PAGES = [["/agent/wallboard", "Wallboard"], ["/agent/reports", "Rapporter"], ["/agent", "Konsol"]];

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function num(x, digits) { return Number(x).toLocaleString("da-DK", { maximumFractionDigits: digits }); }

  function head(title) {
    var header = el("header", "top");
    var h1 = el("h1", null, title + " ");
    var tenant = el("span", "sub");
    tenant.id = "tenant-name";
    h1.appendChild(tenant);
    header.appendChild(h1);
    var nav = el("nav");
    var updated = el("span", "status");
    updated.id = "updated";
    updated.setAttribute("aria-live", "off");
    nav.appendChild(updated);
    PAGES.forEach(function (p) {
      if (p[0] === location.pathname) return;
      var a = el("a", null, p[1]);
      a.href = p[0];
      nav.appendChild(a);
    });
    header.appendChild(nav);
    document.body.insertBefore(header, document.body.firstChild);
  }

  function loginSection() {
    var section = el("section", "login");
    section.id = "login";
    section.hidden = true;
    section.appendChild(el("h2", null, "Log ind som supervisor"));
    var form = el("form");
    form.id = "login-form";
    var label = el("label", null, "Adgangsnøgle");
    label.htmlFor = "token";
    var input = el("input");
    input.id = "token";
    input.type = "password";
    input.autocomplete = "off";
    input.size = 40;
    input.required = true;
    var button = el("button", "primary", "Log ind");
    button.type = "submit";
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(button);
    section.appendChild(form);
    var error = el("p", "error");
    error.id = "login-error";
    error.setAttribute("role", "alert");
    section.appendChild(error);
    var main = document.querySelector("main");
    main.insertBefore(section, main.firstChild);
    return form;
  }

  /* One supervisor page: `title` for the head, `content` the id of what is shown once logged
   * in, `forbidden` what a 403 says, `start()` runs with a token, `stop()` before the login. */
  function page(opts) {
    head(opts.title);
    var form = loginSection();

    function token() { return sessionStorage.getItem(TOKEN_KEY); }

    function showLogin(message) {
      if (opts.stop) opts.stop();
      $(opts.content).hidden = true;
      $("login").hidden = false;
      $("login-error").textContent = message || "";
      $("token").focus();
    }

    function api(path) {
      return fetch(path, { headers: { "Authorization": "Bearer " + token(), "Accept": "application/json" } }).then(function (r) {
        if (r.status === 401 || r.status === 403) {
          sessionStorage.removeItem(TOKEN_KEY);
          showLogin(r.status === 403 ? opts.forbidden : "Adgangsnøglen virker ikke længere.");
          throw new Error("login");
        }
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) {
            var err = new Error(body.message || ("Serveren svarede " + r.status + "."));
            err.code = body.error;
            throw err;
          }
          return body;
        });
      });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      $("login").hidden = true;
      opts.start();
    });

    // After the page script has kept what this returns: `start` may use it at once.
    Promise.resolve().then(function () { if (token()) opts.start(); else showLogin(); });
    return { api: api, token: token, showLogin: showLogin };
  }

  window.kontaktSupervisor = { page: page, $: $, el: el, num: num };
})();
