/* kontakt reports: the day's KPIs, charts per hour (against the target), queue, channel, topic and
 * week over week, a drill-down from a bar to its contacts, the weak questions and the articles due
 * for review. Chart.js is the vendored copy served by kontakt. The page head, the login and the
 * API calls are the supervisor pages' shared script (supervisor.js); every text from the server
 * is inserted with textContent. */
(function () {
  "use strict";

  var sup = window.kontaktSupervisor;
  var $ = sup.$, el = sup.el, num = sup.num;
  var NBSP = "\u00a0";
  var CHANNELS = { voice: "Telefon", chat: "Chat", email: "E-mail" };
  var ENDINGS = {
    bot_answered: "Besvaret af botten", bot_selfservice: "Selvbetjening via botten", agent_closed: "Afsluttet af medarbejder",
    abandoned_in_queue: "Opgivet i køen", left_in_bot: "Forladt i botten", message_left: "Besked", callback_booked: "Tilbagekald",
    open: "Ikke afsluttet"
  };
  var REASONS = { unanswered: "ikke besvaret", low_confidence: "usikkert svar", low_feedback: "lav bedømmelse" };
  var WEEKDAYS = ["man.", "tirs.", "ons.", "tors.", "fre.", "lør.", "søn."];
  var COLORS = { bar: "rgba(11, 92, 173, 0.55)", border: "#0b5cad", target: "#a4262c", last: "rgba(89, 97, 107, 0.45)" };
  var st = { charts: {}, keys: {}, queueNames: {}, day: null, draws: 0 };
  window.kontaktReports = st;

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function pct(share) { return share === null || share === undefined ? "–" : num(share * 100, 1) + NBSP + "%"; }
  function secs(s) { return s === null || s === undefined ? "–" : num(s, 0) + NBSP + "sek."; }
  // A wait as people say it: "25 sek.", "4 min. 10 sek.", "2 t. 55 min." (e-mails wait hours).
  function duration(s) {
    if (s === null || s === undefined) return "–";
    var t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), r = t % 60;
    if (h) return h + NBSP + "t." + (m ? " " + m + NBSP + "min." : "");
    if (m) return m + NBSP + "min." + (r ? " " + r + NBSP + "sek." : "");
    return r + NBSP + "sek.";
  }

  // Plain calendar dates, computed at noon UTC so no time zone moves them.
  function parseDay(iso) { return new Date(iso + "T12:00:00Z"); }
  function isoDay(d) { return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()); }
  function addDays(iso, n) { var d = parseDay(iso); d.setUTCDate(d.getUTCDate() + n); return isoDay(d); }
  function mondayOf(iso) { var d = parseDay(iso); return addDays(iso, -((d.getUTCDay() + 6) % 7)); }
  function today() { var d = new Date(); return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }

  function api(path) { return page.api(path); }

  function query(params) {
    return Object.keys(params).map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }

  function tile(label, value, note) {
    var t = el("div", "tile");
    t.appendChild(el("div", "label", label));
    t.appendChild(el("div", "value", value));
    if (note) t.appendChild(el("div", "note", note));
    return t;
  }

  function renderKpis(s) {
    var box = $("kpis");
    box.textContent = "";
    box.appendChild(tile("Tilbudt i kø", String(s.offered), "korte opgivelser (ikke talt med): " + s.short_abandons));
    box.appendChild(tile("Besvaret", String(s.answered)));
    box.appendChild(tile("Opgivet", String(s.abandoned), "opgivelsesrate " + pct(s.abandonment_rate)));
    box.appendChild(tile("Serviceniveau", pct(s.service_level), "mål " + pct(s.service_level_target) + " inden for " + num(s.thresholds.service_level_seconds, 0) + NBSP + "sek."));
    box.appendChild(tile("Gns. ventetid", secs(s.asa_seconds), "længste " + duration(s.longest_wait_seconds)));
    box.appendChild(tile("Løst af botten", pct(s.bot_contained)));
    box.appendChild(tile("Straksafklaring", pct(s.first_contact_resolution)));
    box.appendChild(tile("E-mails besvaret til tiden", pct(s.email_deadline_met)));
    box.appendChild(tile("Overdraget til medarbejder", String(s.handoffs), "omstillinger: " + s.transfers));
  }

  function draw(id, config, keys, groupBy, titles) {
    if (st.charts[id]) st.charts[id].destroy();
    config.options = Object.assign({
      responsive: true, maintainAspectRatio: false, animation: false,
      onClick: function (evt, elements) {
        if (!elements.length) return;
        var e = elements[0];
        var key = keys[e.datasetIndex] ? keys[e.datasetIndex][e.index] : null;
        if (key) drill(groupBy, key, titles[e.datasetIndex][e.index]);
      },
      plugins: { legend: { display: config.data.datasets.length > 1 } }
    }, config.options || {});
    st.charts[id] = new window.Chart($(id), config);
    st.draws += 1;
  }

  function bars(id, groups, label, groupBy, nameOf, horizontal) {
    var keys = groups.map(function (g) { return g.key; });
    var names = groups.map(function (g) { return nameOf(g.key); });
    draw(id, {
      type: "bar",
      data: { labels: names, datasets: [{ label: label, data: groups.map(function (g) { return g.contacts; }),
        backgroundColor: COLORS.bar, borderColor: COLORS.border, borderWidth: 1 }] },
      options: horizontal ? { indexAxis: "y" } : {}
    }, [keys], groupBy, [names]);
  }

  function hourChart(body) {
    var groups = body.groups;
    var keys = groups.map(function (g) { return g.key; });
    var names = groups.map(function (g) { return g.key.slice(11, 16); });
    draw("chart-hour", {
      type: "bar",
      data: { labels: names, datasets: [
        { type: "bar", label: "Serviceniveau", data: groups.map(function (g) { return g.service_level === null ? null : g.service_level * 100; }),
          backgroundColor: COLORS.bar, borderColor: COLORS.border, borderWidth: 1 },
        { type: "line", label: "Mål", data: groups.map(function () { return body.service_level_target * 100; }),
          borderColor: COLORS.target, pointRadius: 0, borderDash: [6, 4] }
      ] },
      options: { scales: { y: { min: 0, max: 100, ticks: { callback: function (v) { return v + " %"; } } } } }
    }, [keys, null], "hour", [names.map(function (n) { return "kl. " + n; }), null]);
  }

  function weekChart(body, day) {
    var thisMonday = mondayOf(day), lastMonday = addDays(thisMonday, -7);
    var byDay = {};
    body.groups.forEach(function (g) { byDay[g.key.slice(0, 10)] = g; });
    function series(monday) {
      var keys = [], values = [], titles = [];
      for (var i = 0; i < 7; i++) {
        var d = addDays(monday, i), g = byDay[d];
        keys.push(g ? g.key : null);
        values.push(g ? g.contacts : 0);
        titles.push(d);
      }
      return { keys: keys, values: values, titles: titles };
    }
    var last = series(lastMonday), now = series(thisMonday);
    draw("chart-week", {
      type: "bar",
      data: { labels: WEEKDAYS, datasets: [
        { label: "Sidste uge", data: last.values, backgroundColor: COLORS.last },
        { label: "Denne uge", data: now.values, backgroundColor: COLORS.bar, borderColor: COLORS.border, borderWidth: 1 }
      ] }
    }, [last.keys, now.keys], "day", [last.titles, now.titles]);
  }

  function queueName(id) { return id === "none" ? "(ingen kø)" : (st.queueNames[id] || id); }
  function channelName(id) { return CHANNELS[id] || id; }
  function topicName(id) { return id === "none" ? "(ukendt emne)" : id.replace(/_/g, " "); }

  function show(day) {
    st.day = day;
    $("status").textContent = "Henter …";
    $("drill").hidden = true;
    loadStale();  // today's list, whatever day the charts show
    var period = { from: day, to: addDays(day, 1) };
    var weekFrom = addDays(mondayOf(day), -7), weekTo = addDays(mondayOf(day), 7);
    return Promise.all([
      api("/api/v1/stats/live").then(function (live) {
        $("tenant-name").textContent = "– " + live.tenant.name;
        live.queues.forEach(function (q) { st.queueNames[q.id] = q.name; });
      }),
      api("/api/v1/stats/summary?" + query(Object.assign({ group_by: "hour" }, period))),
      api("/api/v1/stats/summary?" + query(Object.assign({ group_by: "queue" }, period))),
      api("/api/v1/stats/summary?" + query(Object.assign({ group_by: "channel" }, period))),
      api("/api/v1/stats/summary?" + query(Object.assign({ group_by: "topic" }, period))),
      api("/api/v1/stats/summary?" + query({ group_by: "day", from: weekFrom, to: weekTo }))
    ]).then(function (r) {
      renderKpis(r[1]);
      hourChart(r[1]);
      bars("chart-queue", r[2].groups, "Henvendelser", "queue", queueName, false);
      bars("chart-channel", r[3].groups, "Henvendelser", "channel", channelName, false);
      bars("chart-topic", r[4].groups.slice(0, 15), "Henvendelser", "topic", topicName, true);
      weekChart(r[5], day);
      $("report").hidden = false;
      $("status").textContent = r[1].contacts + " henvendelser";
    }).catch(function (err) {
      if (err.message !== "login") $("error").textContent = "Kunne ikke hente rapporten: " + err.message;
      $("status").textContent = "";
    });
  }

  function drill(groupBy, key, title) {
    var day = st.day;
    var period = groupBy === "day" ? { from: key.slice(0, 10), to: addDays(key.slice(0, 10), 1) } : { from: day, to: addDays(day, 1) };
    return api("/api/v1/stats/contacts?" + query(Object.assign({ group_by: groupBy, key: key }, period))).then(function (body) {
      $("drill-title").textContent = "– " + title + " (" + body.count + ")";
      var tbody = $("drill-table").querySelector("tbody");
      tbody.textContent = "";
      body.contacts.forEach(function (c) {
        var tr = el("tr");
        tr.setAttribute("data-contact", c.contact_id);
        var at = new Date(c.opened_at).toLocaleString("da-DK", { timeZone: "Europe/Copenhagen", dateStyle: "short", timeStyle: "short" });
        [at, channelName(c.channel), c.first_queue ? queueName(c.first_queue) : "–", c.topic ? topicName(c.topic) : "–",
         ENDINGS[c.ending] || c.ending, duration(c.waited_seconds), c.outcome ? c.outcome.replace(/_/g, " ") : "–", c.contact_id
        ].forEach(function (text, i) { tr.appendChild(el("td", i === 5 ? "num" : null, text)); });
        tbody.appendChild(tr);
      });
      $("drill").hidden = false;
    }).catch(function (err) { if (err.message !== "login") $("error").textContent = err.message; });
  }

  function loadWeak() {
    var day = st.day;
    $("weak-status").textContent = "Henter og grupperer …";
    api("/api/v1/stats/questions?" + query({ from: day, to: addDays(day, 1) })).then(function (body) {
      var tbody = $("weak-table").querySelector("tbody");
      tbody.textContent = "";
      body.clusters.forEach(function (c) {
        var tr = el("tr");
        tr.appendChild(el("td", "num", String(c.size)));
        tr.appendChild(el("td", null, topicName(c.nearest_topic)));
        var ex = el("td");
        c.examples.forEach(function (t) { ex.appendChild(el("div", null, "»" + t + "«")); });
        tr.appendChild(ex);
        tr.appendChild(el("td", null, Object.keys(c.reasons).filter(function (k) { return c.reasons[k]; })
          .map(function (k) { return REASONS[k] + " (" + c.reasons[k] + ")"; }).join(", ")));
        tbody.appendChild(tr);
      });
      $("weak-table").hidden = !body.clusters.length;
      $("weak-status").textContent = body.questions ? body.questions + " spørgsmål i " + body.clusters.length + " grupper"
        : "Ingen svage spørgsmål denne dag.";
    }).catch(function (err) {
      if (err.message === "login") return;
      $("weak-status").textContent = err.code === "UnderstandingUnavailable"
        ? "Sprogmodellen er ikke indlæst på serveren, så spørgsmålene kan ikke grupperes. Kør python -m bot train og start serveren igen."
        : "Kunne ikke hente spørgsmålene: " + err.message;
    });
  }

  var KINDS = { national: "Alle kommuner", local: "Kun vores kommune" };

  function danishDate(iso) { return parseDay(iso).toLocaleDateString("da-DK", { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" }); }

  function loadStale() {
    $("stale-status").textContent = "Henter …";
    api("/api/v1/knowledge/stale").then(function (body) {
      var tbody = $("stale-table").querySelector("tbody");
      tbody.textContent = "";
      body.articles.forEach(function (a) {
        var tr = el("tr");
        tr.setAttribute("data-article", a.kind + ":" + a.id);
        var title = el("td"), link = el("a", null, a.title);
        link.href = a.edit;
        title.appendChild(link);
        tr.appendChild(title);
        tr.appendChild(el("td", null, KINDS[a.kind] || a.kind));
        tr.appendChild(el("td", null, a.owner.name));
        tr.appendChild(el("td", null, danishDate(a.reviewed)));
        tr.appendChild(el("td", null, danishDate(a.due)));
        tr.appendChild(el("td", "num", String(a.days_overdue)));
        tbody.appendChild(tr);
      });
      $("stale-table").hidden = !body.articles.length;
      $("stale-status").textContent = body.articles.length
        ? body.articles.length + (body.articles.length === 1 ? " artikel" : " artikler") + " venter på gennemgang."
        : "Alle artikler er gennemgået inden for deres interval.";
    }).catch(function (err) {
      if (err.message !== "login") $("stale-status").textContent = "Kunne ikke hente listen: " + err.message;
    });
  }

  function downloadCsv() {
    var day = st.day, token = page.token();
    fetch("/api/v1/stats/contacts.csv?" + query({ from: day, to: addDays(day, 1) }), { headers: { "Authorization": "Bearer " + token } })
      .then(function (r) { if (!r.ok) throw new Error("Serveren svarede " + r.status + "."); return r.blob(); })
      .then(function (blob) {
        var a = el("a");
        a.href = URL.createObjectURL(blob);
        a.download = "henvendelser-" + day + ".csv";
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      })
      .catch(function (err) { $("error").textContent = err.message; });
  }

  $("period-form").addEventListener("submit", function (ev) { ev.preventDefault(); show($("day").value); });
  $("csv").addEventListener("click", downloadCsv);
  $("weak-load").addEventListener("click", loadWeak);

  var fromUrl = new URLSearchParams(location.search).get("date");
  $("day").value = fromUrl && /^\d{4}-\d{2}-\d{2}$/.test(fromUrl) ? fromUrl : today();
  var page = sup.page({ title: "Rapporter", content: "report", forbidden: "Rapporterne er kun for supervisorer.",
                        start: function () { show($("day").value); } });
})();
