/* kontakt agent console: live offers. Loaded before console.js, which calls the factory with its
 * helpers. Offers come over /agent/api/live (server-sent events read with fetch, so the agent's
 * token travels in the Authorization header). A new offer rings (two short Web Audio tones, no
 * sound file, and a highlight), counts down to its expiry on the server's clock, and has
 * accept and decline buttons; an offer left to ring out disappears and goes to the next agent. */
(function () {
  "use strict";

  window.kontaktOffers = function (c) {
    var $ = c.$, el = c.el, label = c.label, say = c.say, fmtWait = c.fmtWait, api = c.api, failed = c.failed;
    var TITLE = document.title;

    // id -> { offer, node, countdown }; the server's clock minus ours, so countdowns agree with it.
    var offers = { items: {}, skew: 0, cues: 0, ticker: null, live: null, retry: 1000 };

    function serverNow() { return Date.now() + offers.skew; }

    function secondsLeft(o) { return Math.ceil((new Date(o.expires_at).getTime() - serverNow()) / 1000); }

    function fmtLeft(seconds) { return seconds > 0 ? "Svar inden " + fmtWait(seconds) : "Udløber nu"; }

    var audio = null;
    function unlockAudio() {
      // Browsers only let a page make sound after the user has done something on it (a click, a key).
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      if (!audio) audio = new Ctx();
      if (audio.state === "suspended") audio.resume();
    }
    document.addEventListener("click", unlockAudio);
    document.addEventListener("keydown", unlockAudio);

    function beep() {
      if (!audio || audio.state !== "running") return;
      [0, 0.25].forEach(function (at) {  // two short tones, like a phone console
        var osc = audio.createOscillator(), gain = audio.createGain(), t = audio.currentTime + at;
        osc.type = "sine";
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
        osc.connect(gain).connect(audio.destination);
        osc.start(t);
        osc.stop(t + 0.2);
      });
    }

    function cue(o) {
      offers.cues += 1;
      $("offers").setAttribute("data-cues", String(offers.cues));
      $("offers-section").classList.add("ringing");
      beep();
      say("Ny henvendelse tilbudt: " + offerText(o) + ". " + fmtLeft(secondsLeft(o)) + ".");
    }

    function offerText(o) {
      return label("channel", o.channel) + " · " + (c.queueNames()[o.queue_id] || o.queue_id || "");
    }

    function dropOffer(id) {
      var item = offers.items[id];
      if (!item) return;
      if (item.node.parentNode) item.node.parentNode.removeChild(item.node);
      delete offers.items[id];
    }

    function decide(o, verb) {
      dropOffer(o.id);
      showOffers();
      if (verb === "accept") {
        return api("POST", "/offers/" + o.id + "/accept").then(function (detail) { c.openDetail(detail); c.poll(); })
          .catch(failed("Kunne ikke tage imod."));
      }
      return api("POST", "/offers/" + o.id + "/decline").then(function (me) {
        c.renderMe(me); say("Tilbuddet er afvist og går videre til en kollega. Du er sat på pause.");
      }).catch(failed("Kunne ikke afvise."));
    }

    function offerNode(o) {
      var countdown = el("span", { cls: "countdown", text: fmtLeft(secondsLeft(o)) });
      var node = el("li", { cls: "offer", attrs: { "data-offer": String(o.id) } }, [
        el("span", { cls: "what", text: offerText(o) + " · ventet " + fmtWait(o.waited_seconds) }),
        countdown,
        el("button", { text: "Tag imod", cls: "accept", attrs: { type: "button" }, onclick: function () { decide(o, "accept"); } }),
        el("button", { text: "Afvis", cls: "decline", attrs: { type: "button" }, onclick: function () { decide(o, "decline"); } })
      ]);
      return { offer: o, node: node, countdown: countdown };
    }

    function showOffers() {
      var list = $("offers"), ids = Object.keys(offers.items);
      var empty = list.querySelector(".help");
      if (!ids.length && !empty) list.appendChild(el("li", { text: "Ingen tilbud lige nu.", cls: "help" }));
      if (ids.length && empty) list.removeChild(empty);
      if (!ids.length) $("offers-section").classList.remove("ringing");
      document.title = ids.length ? "(" + ids.length + ") Nyt tilbud – " + TITLE : TITLE;
    }

    function tick() {
      Object.keys(offers.items).forEach(function (id) {
        var item = offers.items[id], left = secondsLeft(item.offer);
        if (left <= 0) {
          // The router gives it to the next agent at this moment; the stream confirms it shortly.
          dropOffer(id);
          say("Tilbuddet udløb og går videre til en kollega.");
        } else {
          item.countdown.textContent = fmtLeft(left);
        }
      });
      showOffers();
    }

    function renderOffers(list, now) {
      if (now) offers.skew = new Date(now).getTime() - Date.now();
      var seen = {};
      list.forEach(function (o) {
        seen[o.id] = true;
        if (offers.items[o.id] || secondsLeft(o) <= 0) return;
        var item = offerNode(o);
        offers.items[o.id] = item;
        $("offers").appendChild(item.node);
        cue(o);
      });
      Object.keys(offers.items).forEach(function (id) { if (!seen[id]) dropOffer(id); });
      showOffers();
      if (!offers.ticker) offers.ticker = setInterval(tick, 500);
    }

    function renderState(value) {
      var me = c.me();
      if (!me || !value) return;
      me.state = value;
      $("me-state").textContent = label("state", value);
      Array.prototype.forEach.call(document.querySelectorAll(".state-buttons button"), function (b) {
        b.setAttribute("aria-pressed", String(b.getAttribute("data-state") === value));
      });
    }

    // The live stream: server-sent events over fetch. It ends every 25 s by design and is opened
    // again at once; after an error the pause doubles up to 10 s, and polling covers the gap.
    function openLive() {
      if (offers.live || !c.token()) return;
      var abort = new AbortController();
      offers.live = abort;
      fetch("/agent/api/live", { headers: { "Authorization": "Bearer " + c.token(),
                                            "Accept": "text/event-stream" }, signal: abort.signal })
        .then(function (r) {
          if (r.status === 401) { c.logout("Din adgangsnøgle er ikke gyldig. Log ind igen."); throw { status: 401 }; }
          if (!r.ok || !r.body) throw { status: r.status };
          offers.retry = 1000;
          $("offers-section").setAttribute("data-live", "true");
          return readEvents(r.body.getReader());
        })
        .then(function () { reopen(abort, 0); }, function (err) {
          if (err && err.status === 401) return;
          reopen(abort, offers.retry);
          offers.retry = Math.min(offers.retry * 2, 10000);
        });
    }

    function reopen(abort, delay) {
      if (offers.live !== abort) return;  // logged out meanwhile
      offers.live = null;
      $("offers-section").setAttribute("data-live", "false");
      setTimeout(openLive, delay);
    }

    function readEvents(reader) {
      var decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
          var end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            handleEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
          return pump();
        });
      }
      return pump();
    }

    function handleEvent(block) {
      var kind = "message", data = [];
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) kind = line.slice(6).trim();
        else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
      });
      if (kind !== "offers" || !data.length) return;
      var payload = JSON.parse(data.join("\n"));
      renderOffers(payload.offers, payload.server_now);
      renderState(payload.state);
    }

    function closeLive() {
      if (offers.live) offers.live.abort();
      offers.live = null;
      Object.keys(offers.items).forEach(dropOffer);
      if (offers.ticker) clearInterval(offers.ticker);
      offers.ticker = null;
      document.title = TITLE;
    }

    return { open: openLive, close: closeLive, render: renderOffers, isLive: function () { return !!offers.live; } };
  };
})();
