// The review queue: the shared filters (filter.js) over review/index.json and the day shards,
// the matches drawn as a list (the first 100, "show more" for the next). Everything from the
// data goes into the page as text (textContent).
(function () {
  var form = document.getElementById("filters");
  if (!form || !window.fetch || !window.URLSearchParams || !window.osmtrackFilters) return;
  var statusEl = document.getElementById("qstatus"), results = document.getElementById("qresults");
  var staticList = document.getElementById("qstatic");
  var reasons = {}, shown = 100, lastKey = "";

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function bdi(text) { return el("bdi", null, text); }
  function fmtTime(t) { return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"; }

  function row(it) {
    var a = el("article", "entry qitem");
    var body = el("div", "entry-body");
    var h = el("h3");
    var sev = el("span", "sev", String(it.s));
    sev.title = "severity";
    h.appendChild(sev);
    h.appendChild(document.createTextNode(" "));
    var link = el("a", null, "#" + Number(it.i));
    link.href = "changesets/" + Number(it.i) + ".html";
    h.appendChild(link);
    h.appendChild(document.createTextNode(" by "));
    var user = el("span", "user"); user.appendChild(bdi(it.u || "unknown user"));
    h.appendChild(user);
    body.appendChild(h);
    var meta = el("p", "meta", fmtTime(it.t));
    if (it.e) { meta.appendChild(document.createTextNode(" · ")); meta.appendChild(bdi(it.e)); }
    meta.appendChild(document.createTextNode(" · " + it.n + " changes" + (it.o ? " · open" : "") + (it.b ? " · bot" : "") + (it.v ? " · ✓ reviewed" : "")));
    body.appendChild(meta);
    var c = el("p", it.c ? "comment" : "comment nocomment");
    if (it.c) c.appendChild(bdi(it.c)); else c.textContent = "⚠ no comment";
    body.appendChild(c);
    var badges = el("p", "badges");
    (it.l || []).forEach(function (l) { var b = el("span", "badge label"); b.appendChild(bdi(l)); badges.appendChild(b); badges.appendChild(document.createTextNode(" ")); });
    (it.r || []).forEach(function (r) {
      var b = el("span", "badge reason"); b.title = "reason code " + r;
      b.appendChild(bdi(reasons[r] || r)); badges.appendChild(b); badges.appendChild(document.createTextNode(" "));
    });
    body.appendChild(badges);
    a.appendChild(body);
    return a;
  }

  var last = [], lastInfo = null;
  function draw(matches, info) {
    var key = JSON.stringify(info.state);
    if (key !== lastKey) { shown = 100; lastKey = key; }
    last = matches; lastInfo = info;
    statusEl.hidden = false; results.hidden = false; staticList.hidden = true;
    results.textContent = "";
    var frag = document.createDocumentFragment();
    for (var i = 0; i < last.length && i < shown; i++) frag.appendChild(row(last[i]));
    if (last.length > shown) {
      var more = el("button", "more", "show " + Math.min(100, last.length - shown) + " more");
      more.type = "button";
      more.addEventListener("click", function () { shown += 100; draw(last, lastInfo); });
      frag.appendChild(more);
    }
    results.appendChild(frag);
    statusEl.textContent = last.length + " of " + info.total + " changesets in the queue match" +
      (!info.complete ? " (loading: " + info.loadedDays + " of " + info.days + " days)" : "") + ".";
    statusEl.setAttribute("data-count", String(last.length));
    statusEl.setAttribute("data-ms", info.ms.toFixed(2));
    statusEl.setAttribute("data-loaded", info.complete ? "all" : "partial");
  }

  // For tests and benchmarks: filter without touching the form.
  window.osmtrackQueue = window.osmtrackFilters({
    form: form, index: "review/index.json", render: draw, onIndex: function (ix) { reasons = ix.reasons || {}; },
    failed: function (err) {
      statusEl.hidden = false;
      statusEl.textContent = "The filters are unavailable (" + err.message + "); the list below is the whole queue.";
      staticList.hidden = false;
    }
  });
})();
