/* kontakt agent console: the supervisor's staffing page ("Bemanding").
 * Uses the console's helpers (window.kontaktConsole, from console.js) and the capacity API
 * (/api/v1/capacity). Chart.js, vendored and served by kontakt, is loaded the first time the page
 * is shown. Every text from the server is inserted with textContent. */
(function () {
  "use strict";

  var k = window.kontaktConsole;
  var CHART_SRC = "/agent/static/vendor/chart.umd.min.js";
  var TARGETS = ["80/20", "80/30", "80/60", "90/20", "90/30", "70/20", "70/60"];
  var WEEKDAYS = ["søndage", "mandage", "tirsdage", "onsdage", "torsdage", "fredage", "lørdage"];
  var COLORS = { bars: "rgba(11, 92, 173, 0.35)", barBorder: "#0b5cad", agents: "#a4262c", scheduled: "#1b1f24" };
  var st = { started: false, chart: null, chartLoading: null, draws: 0 };

  function $(id) { return document.getElementById(id); }
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function isoDay(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }

  function tomorrow() {
    var d = new Date();
    d.setDate(d.getDate() + 1);
    return isoDay(d);
  }

  function num(x, digits) {
    return Number(x).toLocaleString("da-DK", { maximumFractionDigits: digits === undefined ? 1 : digits });
  }

  var NBSP = "\u00a0";

  function pct(share) { return num(share * 100, 1) + NBSP + "%"; }

  function duration(seconds) {
    var s = Math.round(seconds), m = Math.floor(s / 60), r = s % 60;
    if (!m) return r + " sek.";
    return r ? m + " min. " + r + " sek." : m + " min.";
  }

  function targetText(t) { return num(t.share * 100, 1) + NBSP + "% inden for " + num(t.seconds, 0) + " sek."; }

  // A calendar date as Danish text ("mandag den 7. december 2026"), read as a plain date; without
  // the year when `sameYearAs` is a date in the same year.
  function dayText(iso, withWeekday, sameYearAs) {
    var opts = { timeZone: "UTC", day: "numeric", month: "long" };
    if (!sameYearAs || sameYearAs.slice(0, 4) !== iso.slice(0, 4)) opts.year = "numeric";
    var text = new Date(iso + "T12:00:00Z").toLocaleDateString("da-DK", opts);
    if (!withWeekday) return text;
    return new Date(iso + "T12:00:00Z").toLocaleDateString("da-DK", { timeZone: "UTC", weekday: "long" }) + " den " + text;
  }

  function listText(items) {
    if (items.length < 2) return items.join("");
    return items.slice(0, -1).join(", ") + " og " + items[items.length - 1];
  }

  // --- the form ----------------------------------------------------------------------------------

  function fillTargets(select) {
    TARGETS.forEach(function (t) {
      var parts = t.split("/");
      select.appendChild(k.el("option", { text: parts[0] + NBSP + "% inden for " + parts[1] + " sek.", attrs: { value: t } }));
    });
  }

  function fillQueues() {
    var select = $("st-queue"), chosen = select.value, names = k.queueNames();
    while (select.options.length > 1) select.remove(1);
    Object.keys(names).sort(function (a, b) { return names[a].localeCompare(names[b], "da"); }).forEach(function (id) {
      select.appendChild(k.el("option", { text: names[id], attrs: { value: id } }));
    });
    select.value = chosen;
  }

  // A whole number in [low, high] from an input, or null (and the field is marked) if it is not.
  function whole(input, low, high, optional) {
    var text = input.value.trim();
    input.removeAttribute("aria-invalid");
    if (optional && text === "") return "";
    var v = Number(text);
    if (text === "" || !Number.isInteger(v) || v < low || v > high) {
      input.setAttribute("aria-invalid", "true");
      return null;
    }
    return v;
  }

  function problem(message, input) {
    $("st-error").textContent = message;
    if (input) input.focus();
  }

  function show() {
    if (!st.started) {
      st.started = true;
      $("st-date").value = tomorrow();
    }
    fillQueues();
    loadChart().catch(function () {});
  }

  function submitStaffing(ev) {
    if (ev) ev.preventDefault();
    $("st-error").textContent = "";
    var day = $("st-date").value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return problem("Vælg en dato.", $("st-date"));
    var weeks = whole($("st-weeks"), 1, 26);
    if (weeks === null) return problem("Antal uger skal være et helt tal fra 1 til 26.", $("st-weeks"));
    var shrinkage = whole($("st-shrinkage"), 0, 90);
    if (shrinkage === null) return problem("Fravær skal være et helt tal fra 0 til 90 %.", $("st-shrinkage"));
    var patience = whole($("st-patience"), 1, 3600, true);
    if (patience === null) return problem("Tålmodighed skal være et helt antal sekunder fra 1 til 3600, eller tom.", $("st-patience"));
    var params = new URLSearchParams({ date: day, weeks: String(weeks), shrinkage: String(shrinkage / 100),
                                       target: $("st-target").value });
    if ($("st-queue").value) params.set("queue", $("st-queue").value);
    if (patience !== "") params.set("patience", String(patience));
    k.say("Beregner bemanding …");
    return Promise.all([k.api("GET", "/api/v1/capacity/staffing?" + params.toString()), loadChart()]).then(function (res) {
      render(res[0]);
      k.say("Bemandingen for " + dayText(res[0].date, true) + " er beregnet.");
    }).catch(function (err) {
      if (err && err.status === 401) return;
      if (err && err.status === 422) return problem("Bemandingen kunne ikke beregnes ud fra de valgte værdier (" + err.message + ").");
      problem("Kunne ikke hente bemandingen: " + ((err && err.message) || String(err)));
    });
  }

  // --- rendering ---------------------------------------------------------------------------------

  function render(body) {
    var empty = $("st-empty");
    if (!body.queues.length) {
      $("st-result").hidden = true;
      empty.hidden = false;
      var weekday = WEEKDAYS[new Date(body.date + "T12:00:00Z").getUTCDay()];
      empty.textContent = body.days_used.length
        ? "Køen havde ingen henvendelser på de " + weekday + ", prognosen bygger på. Vælg en anden kø eller dato."
        : "Der er ingen henvendelser i historikken for de " + body.weeks + " " + weekday + " før " + dayText(body.date) +
          ". Vælg en anden dato, eller tag flere uger med.";
      return;
    }
    empty.hidden = true;
    $("st-result").hidden = false;
    $("st-basis").textContent = basisText(body);
    $("st-sl-head").textContent = "Forventet serviceniveau (mål: " + targetText(body.target) + ")";
    renderTable(body);
    $("st-notes").textContent = notesText(body);
    drawChart(body);
  }

  function basisText(body) {
    var weekday = WEEKDAYS[new Date(body.date + "T12:00:00Z").getUTCDay()];
    var used = body.days_used.map(function (d) { return dayText(d, false, body.date); });
    var text = "Prognose for " + dayText(body.date, true) + " ud fra " + (used.length === 1 ? "1 dag" : used.length + " " + weekday) +
      ": " + listText(used) + ".";
    var skipped = [];
    for (var w = 1; w <= body.weeks; w++) {
      var d = new Date(body.date + "T12:00:00Z");
      d.setUTCDate(d.getUTCDate() - 7 * w);
      var iso = d.toISOString().slice(0, 10);
      if (body.days_used.indexOf(iso) < 0) skipped.push(dayText(iso, false, body.date));
    }
    if (skipped.length) text += " " + listText(skipped) + " havde ingen henvendelser og er ikke talt med.";
    return text + " Fravær: " + num(body.shrinkage * 100, 0) + NBSP + "%.";
  }

  function notesText(body) {
    var channels = {};
    body.queues.forEach(function (q) { channels[q.channel] = true; });
    var notes = [];
    if (channels.voice) {
      notes.push(body.patience_seconds
        ? "Telefon: beregnet med Erlang A, hvor borgerne i gennemsnit lægger på efter " + num(body.patience_seconds, 0) + " sek."
        : "Telefon: beregnet med Erlang C (ingen lægger på).");
    }
    if (channels.chat) notes.push("Chat: en medarbejder har op til " + body.chat_concurrency + " chats ad gangen.");
    if (channels.email) notes.push("E-mail: bemandingen dækker arbejdet inden for svarfristen, så der er intet serviceniveau i sekunder.");
    notes.push("Behandlingstiden omfatter " + num(body.acw_seconds, 0) + " sek. efterbehandling.");
    return notes.join(" ");
  }

  function cell(text, cls) { return k.el("td", { text: text, cls: cls || "num" }); }

  function renderTable(body) {
    var table = $("st-table");
    Array.prototype.slice.call(table.tBodies).forEach(function (b) { table.removeChild(b); });
    body.queues.forEach(function (q) {
      var tbody = k.el("tbody", { attrs: { "data-queue": q.id } });
      tbody.appendChild(k.el("tr", { cls: "group" }, [k.el("th", {
        text: q.name + " · " + k.label("channel", q.channel) + " · " + num(q.contacts, 0) + " henvendelser · højst " +
          q.peak_scheduled + " på vagt", attrs: { colspan: "6", scope: "colgroup" } })]));
      q.rows.forEach(function (r) {
        tbody.appendChild(k.el("tr", { attrs: { "data-slot": r.time } }, [
          k.el("th", { text: r.time + "–" + r.end, attrs: { scope: "row" } }),
          cell(num(r.arrivals)), cell(duration(r.aht_seconds)), cell(String(r.agents)), cell(String(r.scheduled)),
          cell(r.service_level === null ? "–" : pct(r.service_level))
        ]));
      });
      table.appendChild(tbody);
    });
    if (body.queues.length > 1) {
      var total = k.el("tbody", { cls: "total", attrs: { "data-queue": "" } });
      total.appendChild(k.el("tr", { cls: "group" }, [k.el("th", { text: "Alle køer i alt", attrs: { colspan: "6", scope: "colgroup" } })]));
      body.slots.forEach(function (s) {
        total.appendChild(k.el("tr", { attrs: { "data-slot": s.time } }, [
          k.el("th", { text: s.time + "–" + s.end, attrs: { scope: "row" } }),
          cell(num(s.arrivals)), cell("–"), cell(String(s.agents)), cell(String(s.scheduled)), cell("–")
        ]));
      });
      table.appendChild(total);
    }
  }

  // --- chart -------------------------------------------------------------------------------------

  function loadChart() {
    if (window.Chart) return Promise.resolve(window.Chart);
    if (!st.chartLoading) {
      st.chartLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = CHART_SRC;
        script.onload = function () { resolve(window.Chart); };
        script.onerror = function () { st.chartLoading = null; reject(new Error("Grafen kunne ikke indlæses.")); };
        document.head.appendChild(script);
      });
    }
    return st.chartLoading;
  }

  // Marks the canvas each time the chart has been drawn (for people reading the page's state
  // with tools, and for the end-to-end test).
  var drawnMarker = {
    id: "kontaktDrawn",
    afterRender: function (chart) { st.draws += 1; chart.canvas.setAttribute("data-drawn", String(st.draws)); }
  };

  function drawChart(body) {
    var Chart = window.Chart;
    if (st.chart) { st.chart.destroy(); st.chart = null; }
    var canvas = $("st-chart");
    canvas.removeAttribute("data-drawn");
    var labels = body.slots.map(function (s) { return s.time; });
    st.chart = new Chart(canvas, {
      data: {
        labels: labels,
        datasets: [
          { type: "bar", label: "Forventede henvendelser", yAxisID: "y", order: 3,
            data: body.slots.map(function (s) { return s.arrivals; }),
            backgroundColor: COLORS.bars, borderColor: COLORS.barBorder, borderWidth: 1 },
          { type: "line", label: "Medarbejdere nødvendige", yAxisID: "agents", order: 1,
            data: body.slots.map(function (s) { return s.agents; }),
            borderColor: COLORS.agents, backgroundColor: COLORS.agents, borderWidth: 2, pointRadius: 2, stepped: "middle" },
          { type: "line", label: "Medarbejdere på vagt (med fravær)", yAxisID: "agents", order: 2,
            data: body.slots.map(function (s) { return s.scheduled; }),
            borderColor: COLORS.scheduled, backgroundColor: COLORS.scheduled, borderWidth: 2, borderDash: [6, 4],
            pointRadius: 0, stepped: "middle" }
        ]
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        locale: "da-DK",
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "top", labels: { sort: function (a, b) { return a.datasetIndex - b.datasetIndex; } } },
          tooltip: { callbacks: { title: function (items) {
            var s = body.slots[items[0].dataIndex];
            return "Kl. " + s.time + "–" + s.end;
          } } }
        },
        scales: {
          x: { title: { display: true, text: "Halve time, der starter kl." }, grid: { display: false } },
          y: { position: "left", beginAtZero: true, title: { display: true, text: "Henvendelser pr. halve time" } },
          agents: { position: "right", beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false },
                    title: { display: true, text: "Medarbejdere" } }
        }
      },
      plugins: [drawnMarker]
    });
  }

  // --- what-if -----------------------------------------------------------------------------------

  function submitWhatIf(ev) {
    ev.preventDefault();
    var out = $("wi-result");
    var calls = whole($("wi-calls"), 0, 20000), aht = whole($("wi-aht"), 1, 3600), patience = whole($("wi-patience"), 1, 3600, true);
    if (calls === null) { out.textContent = "Henvendelser pr. time skal være et helt tal fra 0 til 20000."; $("wi-calls").focus(); return; }
    if (aht === null) { out.textContent = "Behandlingstiden skal være et helt antal sekunder fra 1 til 3600."; $("wi-aht").focus(); return; }
    if (patience === null) { out.textContent = "Tålmodighed skal være et helt antal sekunder fra 1 til 3600, eller tom."; $("wi-patience").focus(); return; }
    var params = new URLSearchParams({ calls: String(calls), aht: String(aht), target: $("wi-target").value });
    if (patience !== "") params.set("patience", String(patience));
    k.api("GET", "/api/v1/capacity/erlang?" + params.toString()).then(function (r) {
      out.textContent = whatIfText(r);
    }).catch(function (err) {
      if (err && err.status === 401) return;
      out.textContent = err && err.status === 422
        ? "Det kan ikke beregnes for de tal (" + err.message + ")."
        : "Kunne ikke beregne: " + ((err && err.message) || String(err));
    });
  }

  function whatIfText(r) {
    var n = r.needed, secs = num(r.target.seconds, 0) + " sek.";
    var text = num(r.calls_per_hour, 0) + " henvendelser pr. time à " + duration(r.aht_seconds) + " giver " +
      num(n.offered_load, 1) + " Erlang. Der skal bruges " + n.agents + " medarbejdere: " + pct(n.service_level) +
      " besvares inden for " + secs;
    if (n.asa_seconds !== null) text += ", gennemsnitlig ventetid " + duration(n.asa_seconds);
    text += ", belægning " + pct(n.occupancy);
    if (n.model === "erlang_a") text += ", " + pct(n.p_abandon) + " lægger på";
    text += ".";
    if (r.neighbours.length) {
      text += " " + r.neighbours.map(function (f) { return "Med " + f.agents + ": " + pct(f.service_level); }).join("; ") + ".";
    }
    if (r.erlang_c) text += " Hvis ingen lagde på (Erlang C), skulle der bruges " + r.erlang_c.agents + ".";
    return text;
  }

  // --- boot --------------------------------------------------------------------------------------

  fillTargets($("st-target"));
  fillTargets($("wi-target"));
  $("st-form").addEventListener("submit", submitStaffing);
  $("wi-form").addEventListener("submit", submitWhatIf);
  window.kontaktStaffing = { show: show };
})();
