/* kontakt wallboard: live figures per queue for supervisors, polled from /api/v1/stats/live every
 * 3 s. The page head, the login and the API calls are the supervisor pages' shared script
 * (supervisor.js). Every text from the server is inserted with textContent. */
(function () {
  "use strict";

  var sup = window.kontaktSupervisor;
  var $ = sup.$, el = sup.el, num = sup.num;
  var POLL_MS = 3000;
  var NBSP = "\u00a0";
  var STATES = [["available", "ledige"], ["busy", "optaget"], ["after_contact_work", "efterbehandling"], ["paused", "pause"]];
  var timer = null;

  function pct(share) { return share === null || share === undefined ? "–" : num(share * 100, 0) + NBSP + "%"; }

  function wait(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.round(seconds), m = Math.floor(s / 60), r = s % 60;
    if (!m) return r + NBSP + "sek.";
    return m + ":" + (r < 10 ? "0" + r : r) + NBSP + "min.";
  }

  function tile(label, value, note, alarm, id) {
    var t = el("div", "tile" + (alarm ? " alarm" : ""));
    if (id) t.id = id;
    t.appendChild(el("div", "label", label));
    t.appendChild(el("div", "value", value));
    if (note) t.appendChild(el("div", "note", note));
    return t;
  }

  function has(list, name) { return list.indexOf(name) >= 0; }

  function render(data) {
    $("tenant-name").textContent = "– " + data.tenant.name;
    var totals = $("totals");
    totals.textContent = "";
    var a = data.agents;
    totals.appendChild(tile("Venter nu", String(data.waiting), "grænse " + data.limits.waiting, has(data.alarms, "waiting"), "total-waiting"));
    totals.appendChild(tile("Længste ventetid", wait(data.longest_wait_seconds), "grænse " + wait(data.limits.longest_wait_seconds),
      has(data.alarms, "longest_wait"), "total-longest"));
    totals.appendChild(tile("Serviceniveau i dag", pct(data.service_level), "mål " + pct(data.service_level_target),
      has(data.alarms, "service_level"), "total-sl"));
    STATES.forEach(function (s) { totals.appendChild(tile("Agenter " + s[1], String(a[s[0]] || 0))); });

    var queues = $("queues");
    queues.textContent = "";
    data.queues.forEach(function (q) {
      var box = el("article", "queue" + (q.alarms.length ? " alarm" : ""));
      box.setAttribute("data-queue", q.id);
      box.appendChild(el("h3", null, q.name));
      var figures = el("div", "figures");
      [["Venter", String(q.waiting), "waiting"], ["Længste ventetid", wait(q.longest_wait_seconds), "longest_wait"],
       ["Serviceniveau", pct(q.service_level) + " / " + pct(q.service_level_target), "service_level"]].forEach(function (f) {
        var box2 = el("div", "figure" + (has(q.alarms, f[2]) ? " alarm" : ""));
        box2.setAttribute("data-figure", f[2]);
        box2.appendChild(el("div", "label", f[0]));
        box2.appendChild(el("div", "value", f[1]));
        figures.appendChild(box2);
      });
      box.appendChild(figures);
      box.appendChild(el("div", "agents", STATES.map(function (s) { return (q.agents[s[0]] || 0) + NBSP + s[1]; }).join(" · ")));
      box.appendChild(el("div", "help", "I dag: " + q.offered + " tilbudt, " + q.answered + " besvaret, " + q.abandoned + " opgivet"));
      queues.appendChild(box);
    });
    $("updated").textContent = "Opdateret " + new Date(data.at).toLocaleTimeString("da-DK", { timeZone: "Europe/Copenhagen" });
    $("board").hidden = false;
  }

  function poll() {
    page.api("/api/v1/stats/live")
      .then(function (data) {
        $("error").textContent = "";
        render(data);
        timer = setTimeout(poll, POLL_MS);
      })
      .catch(function (err) {
        if (err.message === "login") return;
        $("error").textContent = "Kunne ikke hente tallene: " + (err.message || err) + " Prøver igen.";
        timer = setTimeout(poll, POLL_MS);
      });
  }

  var page = sup.page({
    title: "Wallboard", content: "board", forbidden: "Wallboardet er kun for supervisorer.", start: poll,
    stop: function () { if (timer) clearTimeout(timer); }
  });
})();
