// The review queue's filters. review/index.json lists the days and the values to offer; each
// day's changesets are in review/DAY.json, loaded on demand (the newest first, or only the day
// asked for). The filter state is the URL's query string, so a filtered queue can be shared
// and bookmarked. Everything from the data goes into the page as text (textContent).
(function () {
  var form = document.getElementById("filters");
  if (!form || !window.fetch || !window.URLSearchParams) return;
  var statusEl = document.getElementById("qstatus"), results = document.getElementById("qresults");
  var staticList = document.getElementById("qstatic");
  var index = null, items = [], loaded = {}, loading = 0, shown = 100;
  var names = ["reason", "label", "region", "day", "user", "editor", "min", "max", "q", "nobots", "open", "reviewed"];

  function params() {
    var p = new URLSearchParams(location.search), o = {};
    names.forEach(function (n) { o[n] = p.get(n) || ""; });
    return o;
  }
  function setForm(o) {
    names.forEach(function (n) {
      var el = form.elements[n];
      if (!el) return;
      if (el.type === "checkbox") el.checked = o[n] === "1"; else el.value = o[n];
    });
  }
  function fromForm() {
    var o = {};
    names.forEach(function (n) {
      var el = form.elements[n];
      o[n] = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value.trim();
    });
    return o;
  }
  function toURL(o) {
    var p = new URLSearchParams();
    names.forEach(function (n) { if (o[n]) p.set(n, o[n]); });
    var s = p.toString();
    return location.pathname + (s ? "?" + s : "");
  }
  // An <option> holds text only: a stranger's value is isolated with U+2068 … U+2069 there.
  function option(sel, value, label) {
    var op = document.createElement("option");
    op.value = value; op.textContent = "\u2068" + label + "\u2069"; sel.appendChild(op);
  }

  // Item gives every changeset the same shape (the shards omit empty fields): the filter loop
  // then reads monomorphic objects, several times faster than the parsed ones. It adds the
  // lower-case search fields.
  function Item(x) {
    this.i = x.i; this.t = x.t; this.u = x.u || ""; this.e = x.e || ""; this.c = x.c || "";
    this.r = x.r || null; this.l = x.l || null; this.g = x.g || null;
    this.n = x.n || 0; this.s = x.s || 0; this.b = !!x.b; this.o = !!x.o; this.v = !!x.v;
    this._u = this.u.toLowerCase(); this._e = this.e.toLowerCase();
    this._q = (this.c + "\n" + this.u).toLowerCase();
  }
  function prepare(list) {
    var out = new Array(list.length);
    for (var i = 0; i < list.length; i++) out[i] = new Item(list[i]);
    return out;
  }
  function sortItems() {
    items.sort(function (a, b) { return (b.s - a.s) || (b.t - a.t) || (b.i - a.i); });
  }
  function has(list, v) { return !!list && list.indexOf(v) >= 0; }

  // filter returns the matching items, in queue order.
  function filter(o) {
    var out = [], u = o.user.toLowerCase(), e = o.editor.toLowerCase(), q = o.q.toLowerCase();
    var min = o.min === "" ? -1 : Number(o.min), max = o.max === "" ? Infinity : Number(o.max);
    var day0 = 0, day1 = 0;
    if (o.day) { day0 = Date.parse(o.day + "T00:00:00Z") / 1000; day1 = day0 + 86400; }
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      if (o.reason && !has(it.r, o.reason)) continue;
      if (o.label && !has(it.l, o.label)) continue;
      if (o.region && !has(it.g, o.region)) continue;
      if (day0 && (it.t < day0 || it.t >= day1)) continue;
      if (u && it._u.indexOf(u) < 0) continue;
      if (e && it._e.indexOf(e) < 0) continue;
      if (it.n < min || it.n > max) continue;
      if (o.nobots === "1" && it.b) continue;
      if (o.open === "1" && !it.o) continue;
      if (o.reviewed !== "1" && it.v) continue;
      if (q && it._q.indexOf(q) < 0) continue;
      out.push(it);
    }
    return out;
  }

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
      b.appendChild(bdi((index.reasons && index.reasons[r]) || r)); badges.appendChild(b); badges.appendChild(document.createTextNode(" "));
    });
    body.appendChild(badges);
    a.appendChild(body);
    return a;
  }

  var last = [];
  function render() {
    var o = fromForm();
    var t0 = performance.now();
    last = filter(o);
    var ms = performance.now() - t0;
    results.textContent = "";
    var frag = document.createDocumentFragment();
    for (var i = 0; i < last.length && i < shown; i++) frag.appendChild(row(last[i]));
    if (last.length > shown) {
      var more = el("button", "more", "show " + Math.min(100, last.length - shown) + " more");
      more.type = "button";
      more.addEventListener("click", function () { shown += 100; render(); });
      frag.appendChild(more);
    }
    results.appendChild(frag);
    var days = index.days.length, done = Object.keys(loaded).length;
    statusEl.textContent = last.length + " of " + items.length + " changesets in the queue match" +
      (done < days && !o.day ? " (loading: " + done + " of " + days + " days)" : "") + ".";
    statusEl.setAttribute("data-count", String(last.length));
    statusEl.setAttribute("data-ms", ms.toFixed(2));
    statusEl.setAttribute("data-loaded", done < days && !o.day ? "partial" : "all");
    if (o.day && loaded[o.day]) statusEl.setAttribute("data-loaded", "all");
  }

  function load(day) {
    if (loaded[day] || loaded[day] === false) return Promise.resolve();
    var d = index.days.filter(function (x) { return x.day === day; })[0];
    if (!d) return Promise.resolve();
    loaded[day] = false;
    loading++;
    return fetch(d.file).then(function (r) {
      if (!r.ok) throw new Error(d.file + ": HTTP " + r.status);
      return r.json();
    }).then(function (list) {
      Array.prototype.push.apply(items, prepare(list));
      sortItems();
      loaded[day] = true;
    }).finally(function () { loading--; });
  }
  // loadAll loads the days newest first, rendering after each one.
  function loadAll() {
    var days = index.days.map(function (d) { return d.day; });
    var i = 0;
    function next() {
      if (i >= days.length) { render(); return; }
      var d = days[i++];
      return load(d).then(function () { render(); return next(); });
    }
    return next();
  }

  function apply(push) {
    var o = fromForm(), url = toURL(o);
    shown = 100;
    if (push) history.replaceState(null, "", url);
    if (o.day && !loaded[o.day]) { load(o.day).then(render); }
    render();
  }

  fetch("review/index.json").then(function (r) {
    if (!r.ok) throw new Error("review/index.json: HTTP " + r.status);
    return r.json();
  }).then(function (ix) {
    index = ix;
    var codes = Object.keys(ix.reasons).sort(function (a, b) { return ix.reasons[a] < ix.reasons[b] ? -1 : 1; });
    codes.forEach(function (c) { option(form.elements.reason, c, ix.reasons[c]); });
    ix.labels.forEach(function (l) { option(form.elements.label, l, l); });
    ix.regions.forEach(function (g) { option(form.elements.region, g, g); });
    ix.days.forEach(function (d) { option(form.elements.day, d.day, d.day + " (" + d.n + ")"); });
    if (!ix.regions.length) form.elements.region.parentNode.hidden = true;
    var o = params();
    // A preset value the data does not offer (a label without queued changesets) stays selectable.
    ["reason", "label", "region", "day"].forEach(function (n) {
      var sel = form.elements[n];
      if (o[n] && !Array.prototype.some.call(sel.options, function (op) { return op.value === o[n]; })) option(sel, o[n], o[n]);
    });
    setForm(o);
    form.hidden = false; statusEl.hidden = false; results.hidden = false; staticList.hidden = true;
    form.addEventListener("change", function () { apply(true); });
    form.addEventListener("input", function (ev) { if (ev.target.type !== "checkbox" && ev.target.tagName !== "SELECT") apply(true); });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(true); });
    var first = o.day ? load(o.day) : Promise.resolve();
    return first.then(function () { render(); return loadAll(); });
  }).catch(function (err) {
    statusEl.hidden = false;
    statusEl.textContent = "The filters are unavailable (" + err.message + "); the list below is the whole queue.";
    staticList.hidden = false;
  });

  // For tests and benchmarks: filter without touching the form.
  window.osmtrackQueue = {
    ready: function () { return index !== null && Object.keys(loaded).length === index.days.length && loading === 0 && Object.keys(loaded).every(function (d) { return loaded[d]; }); },
    count: function (o) { var p = {}; names.forEach(function (n) { p[n] = (o && o[n]) || ""; }); return filter(p).length; }
  };
})();
