// The filters shared by the review queue (review.js) and the overview map (map.js).
// cfg.index (review/index.json, map/index.json) lists the days with their shard and the values
// the filters offer; each day's changesets are in a shard loaded on demand (the newest first,
// or only the day asked for). The filter state is the URL's query string, so a filtered view
// can be shared and bookmarked. Everything from the data goes into the page as text.
//
// cfg: form, index (URL), render(matches, info) called after every change and load, failed(err),
// onIndex(index) (optional),
// recent (optional, unix seconds: without a day, only changesets from then on, and only the
// shards of those days are loaded; the day "all" lifts it).
window.osmtrackFilters = function (cfg) {
  var form = cfg.form;
  var index = null, items = [], loaded = {}, loading = 0;
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
  // fromForm reads the form; a filter the form does not have is off ("show reviewed" is on
  // where the form has no such box: the map shows every changeset).
  function fromForm() {
    var o = {};
    names.forEach(function (n) {
      var el = form.elements[n];
      if (!el) { o[n] = n === "reviewed" ? "1" : ""; return; }
      o[n] = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value.trim();
    });
    return o;
  }
  function toURL(o) {
    var p = new URLSearchParams();
    names.forEach(function (n) { if (o[n] && form.elements[n]) p.set(n, o[n]); });
    var s = p.toString();
    return location.pathname + (s ? "?" + s : "");
  }
  // An <option> holds text only: a stranger's value is isolated with U+2068 … U+2069 there.
  function option(sel, value, label) {
    if (!sel) return;
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
    this.f = !!x.f; this.p = x.p || null;
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
    if (o.day && o.day !== "all") { day0 = Date.parse(o.day + "T00:00:00Z") / 1000; day1 = day0 + 86400; }
    else if (!o.day && cfg.recent) { day0 = cfg.recent; day1 = Infinity; }
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

  // wanted are the days a state needs: its day, the recent ones, or all of them.
  function wanted(o) {
    var days = index.days.map(function (d) { return d.day; });
    if (o.day && o.day !== "all") return [o.day];
    if (!o.day && cfg.recent) {
      var first = new Date(cfg.recent * 1000).toISOString().slice(0, 10);
      return days.filter(function (d) { return d >= first; });
    }
    return days;
  }
  function render() {
    var o = fromForm();
    var t0 = performance.now();
    var matches = filter(o);
    var ms = performance.now() - t0;
    var need = wanted(o), done = need.filter(function (d) { return loaded[d] === true; }).length;
    cfg.render(matches, { state: o, ms: ms, total: items.length, days: need.length, loadedDays: done, complete: done >= need.length });
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
  // loadWanted loads the days a state needs, newest first, rendering after each one.
  function loadWanted(o) {
    var days = wanted(o), i = 0;
    function next() {
      if (i >= days.length) { render(); return; }
      return load(days[i++]).then(function () { render(); return next(); });
    }
    return next();
  }

  function apply() {
    history.replaceState(null, "", toURL(fromForm()));
    render();
    loadWanted(fromForm());
  }

  fetch(cfg.index).then(function (r) {
    if (!r.ok) throw new Error(cfg.index + ": HTTP " + r.status);
    return r.json();
  }).then(function (ix) {
    index = ix;
    if (cfg.onIndex) cfg.onIndex(ix);
    var codes = Object.keys(ix.reasons).sort(function (a, b) { return ix.reasons[a] < ix.reasons[b] ? -1 : 1; });
    codes.forEach(function (c) { option(form.elements.reason, c, ix.reasons[c]); });
    ix.labels.forEach(function (l) { option(form.elements.label, l, l); });
    ix.regions.forEach(function (g) { option(form.elements.region, g, g); });
    ix.days.forEach(function (d) { option(form.elements.day, d.day, d.day + " (" + d.n + ")"); });
    if (!ix.regions.length && form.elements.region) form.elements.region.parentNode.hidden = true;
    var o = params();
    // A preset value the data does not offer (a label without changesets) stays selectable.
    ["reason", "label", "region", "day"].forEach(function (n) {
      var sel = form.elements[n];
      if (sel && o[n] && !Array.prototype.some.call(sel.options, function (op) { return op.value === o[n]; })) option(sel, o[n], o[n]);
    });
    setForm(o);
    form.hidden = false;
    form.addEventListener("change", apply);
    form.addEventListener("input", function (ev) { if (ev.target.type !== "checkbox" && ev.target.tagName !== "SELECT") apply(); });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(); });
    render();
    return loadWanted(fromForm());
  }).catch(function (err) { cfg.failed(err); });

  return {
    // ready: every shard the current state needs is loaded.
    ready: function () {
      if (index === null || loading > 0) return false;
      return wanted(fromForm()).every(function (d) { return loaded[d] === true; });
    },
    // loadAll loads every shard (for tests and benchmarks).
    loadAll: function () { return loadWanted({ day: "all" }); },
    // count filters without touching the form (for tests and benchmarks).
    count: function (o) { var p = {}; names.forEach(function (n) { p[n] = (o && o[n]) || ""; }); return filter(p).length; }
  };
};
