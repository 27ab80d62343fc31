// Draws the map of a changeset page or of the overview page from the JSON in #map-data.
// Everything from the data goes into the page as text (textContent), never as HTML.
(function () {
  var el = document.getElementById("map"), dataEl = document.getElementById("map-data");
  if (!el || !dataEl || typeof L === "undefined") return;
  var data;
  try { data = JSON.parse(dataEl.textContent); } catch (e) { return; }
  var map = L.map(el, { scrollWheelZoom: false });
  var tiles = el.getAttribute("data-tiles"), note = document.getElementById("nobasemap");
  // Without a base map say so, and credit no tiles: none configured, or none loaded.
  function noBaseMap(layer) {
    if (layer) map.removeLayer(layer);
    el.classList.add("no-tiles");
    if (note) note.hidden = false;
    el.setAttribute("data-basemap", "none");
  }
  if (tiles) {
    var esc = function (s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); };
    var tl = L.tileLayer(tiles, { maxZoom: 19, attribution: esc(el.getAttribute("data-attribution") || "") });
    var loadedTiles = 0, failedTiles = 0;
    tl.on("tileload", function () { loadedTiles++; el.setAttribute("data-basemap", "tiles"); });
    tl.on("tileerror", function () { failedTiles++; });
    tl.on("load", function () { if (loadedTiles === 0 && failedTiles > 0) noBaseMap(tl); });
    tl.addTo(map);
  } else {
    noBaseMap(null);
  }
  // The regions' outlines, under everything else and not clickable.
  var regions = el.getAttribute("data-regions");
  if (regions && window.fetch) {
    fetch(regions).then(function (r) { return r.ok ? r.json() : null; }).then(function (gj) {
      if (!gj) return;
      L.geoJSON(gj, { interactive: false, style: { color: "#7b3fa0", weight: 2, dashArray: "2 6", fill: false } }).addTo(map).bringToBack();
      el.setAttribute("data-regions-drawn", String((gj.features || []).length));
    }).catch(function () {});
  }
  var styles = {
    create: { color: "#1f9d3a", weight: 4, fillOpacity: 0.25 },
    "delete": { color: "#d23c3c", weight: 4, fillOpacity: 0.25 },
    before: { color: "#777777", weight: 3, dashArray: "6 6", fillOpacity: 0.05 },
    modify: { color: "#2f6fd6", weight: 4, fillOpacity: 0.2 },
    cs: { color: "#2f6fd6", weight: 1, fillOpacity: 0.04 },
    moved: { color: "#e07b00", weight: 3, dashArray: "4 6", fillOpacity: 0 },
    parent: { color: "#444444", weight: 3, fillOpacity: 0 }
  };
  function text(tag, s, cls) { var n = document.createElement(tag); n.textContent = s; if (cls) n.className = cls; return n; }
  function popup(p) {
    var box = document.createElement("div");
    if (p.c === "cs") {
      var a = document.createElement("a");
      a.href = "changesets/" + Number(p.id) + ".html";
      a.textContent = "#" + Number(p.id);
      var h = document.createElement("b"); h.appendChild(a); box.appendChild(h);
      box.appendChild(text("div", p.t || ""));
      return box;
    }
    box.appendChild(text("b", p.t || ""));
    if (p.rows && p.rows.length) {
      var t = document.createElement("table");
      for (var i = 0; i < p.rows.length; i++) {
        var r = p.rows[i], tr = document.createElement("tr");
        tr.appendChild(text("th", r[0]));
        tr.appendChild(text("td", r[1], "old"));
        tr.appendChild(text("td", r[2], "new"));
        t.appendChild(tr);
      }
      box.appendChild(t);
    } else if (p.c !== "before" && p.c !== "parent") {
      box.appendChild(text("div", "no tag changes"));
    }
    return box;
  }
  var overview = el.getAttribute("data-map") === "overview";
  if (overview) { drawClusters(); return; }
  var feats = (data.features || []).slice().sort(function (a, b) {
    return (a.properties.c === "before" ? 0 : 1) - (b.properties.c === "before" ? 0 : 1);
  });
  var layer = L.geoJSON({ type: "FeatureCollection", features: feats }, {
    style: function (f) { return styles[f.properties.c] || styles.modify; },
    pointToLayer: function (f, ll) {
      var s = styles[f.properties.c] || styles.modify;
      return L.circleMarker(ll, { radius: 6, color: s.color, weight: 2, dashArray: s.dashArray, fillOpacity: 0.6 });
    },
    onEachFeature: function (f, l) { l.bindPopup(popup(f.properties)); }
  }).addTo(map);
  var b = layer.getBounds(), center = el.getAttribute("data-center"), bounds = el.getAttribute("data-bounds");
  if (overview && center) {
    var c0 = center.split(",");
    map.setView([Number(c0[0]) || 0, Number(c0[1]) || 0], Number(el.getAttribute("data-zoom")) || 10);
  } else if (overview && bounds) {
    var q = bounds.split(",").map(Number);
    map.fitBounds([[q[0], q[1]], [q[2], q[3]]]);
  } else if (b.isValid()) {
    map.fitBounds(b, { maxZoom: 18, padding: [20, 20] });
  } else if (data.bbox) {
    map.fitBounds([[data.bbox[1], data.bbox[0]], [data.bbox[3], data.bbox[2]]]);
  } else {
    var c = (el.getAttribute("data-center") || "0,0").split(",");
    map.setView([Number(c[0]) || 0, Number(c[1]) || 0], Number(el.getAttribute("data-zoom")) || 2);
  }
  el.setAttribute("data-features", String(feats.length));

  // The overview: one point per changeset, clustered on a grid of 48 px per zoom level;
  // red when one of them has a reason to look.
  function drawClusters() {
    var pts = (data.features || []).filter(function (f) { return f.geometry && f.geometry.type === "Point"; });
    var layer = L.layerGroup().addTo(map);
    function redraw() {
      layer.clearLayers();
      var z = map.getZoom(), cells = {}, order = [];
      pts.forEach(function (f) {
        var c = f.geometry.coordinates, p = map.project([c[1], c[0]], z);
        var k = Math.floor(p.x / 48) + ":" + Math.floor(p.y / 48);
        if (!cells[k]) { cells[k] = []; order.push(k); }
        cells[k].push(f);
      });
      order.forEach(function (k) {
        var fs = cells[k], flagged = fs.some(function (f) { return f.properties.r; });
        var lat = 0, lon = 0;
        fs.forEach(function (f) { lon += f.geometry.coordinates[0]; lat += f.geometry.coordinates[1]; });
        var ll = [lat / fs.length, lon / fs.length], m;
        if (fs.length === 1) {
          m = L.circleMarker(ll, { radius: 7, color: "#fff", weight: 2, fillColor: flagged ? "#d23c3c" : "#2f6fd6", fillOpacity: 0.9 });
          m.bindPopup(popup(fs[0].properties));
        } else {
          var size = Math.min(44, 22 + Math.round(Math.log(fs.length) * 4));
          var icon = L.divIcon({ className: "", iconSize: [size, size], html: "" });
          m = L.marker(ll, { icon: icon, keyboard: true, title: fs.length + " changesets" });
          m.on("add", function () {
            var n = m.getElement();
            if (!n) return;
            n.className += " cluster-icon " + (flagged ? "flagged" : "clean");
            n.textContent = String(fs.length);
          });
          m.on("click", function () {
            if (map.getZoom() < map.getMaxZoom() - 1) {
              map.fitBounds(L.latLngBounds(fs.map(function (f) { return [f.geometry.coordinates[1], f.geometry.coordinates[0]]; })).pad(0.2), { maxZoom: map.getZoom() + 3 });
            } else {
              var box = document.createElement("div");
              fs.slice(0, 20).forEach(function (f) { box.appendChild(popup(f.properties)); });
              L.popup().setLatLng(ll).setContent(box).openOn(map);
            }
          });
        }
        layer.addLayer(m);
      });
      el.setAttribute("data-clusters", String(order.length));
    }
    var center = el.getAttribute("data-center"), bounds = el.getAttribute("data-bounds");
    if (center) {
      var c0 = center.split(",");
      map.setView([Number(c0[0]) || 0, Number(c0[1]) || 0], Number(el.getAttribute("data-zoom")) || 10);
    } else if (bounds) {
      var q = bounds.split(",").map(Number);
      map.fitBounds([[q[0], q[1]], [q[2], q[3]]]);
    } else if (pts.length) {
      map.fitBounds(L.latLngBounds(pts.map(function (f) { return [f.geometry.coordinates[1], f.geometry.coordinates[0]]; })).pad(0.1), { maxZoom: 16 });
    } else {
      map.setView([0, 0], 2);
    }
    map.on("zoomend", redraw);
    redraw();
    el.setAttribute("data-features", String(pts.length));

    // The filters of the review queue (filter.js) over map/index.json and the day shards: the
    // embedded last 24 hours stay drawn until the shards the filter needs are loaded.
    var form = document.getElementById("filters"), st = document.getElementById("qstatus");
    if (!form || !st || !window.osmtrackFilters || !window.URLSearchParams || !window.fetch) return;
    window.osmtrackMap = window.osmtrackFilters({
      form: form, index: "map/index.json", recent: Number(el.getAttribute("data-recent")) || 0,
      render: function (matches, info) {
        st.hidden = false;
        st.setAttribute("data-loaded", info.complete ? "all" : "partial");
        if (!info.complete) { st.textContent = "Loading: " + info.loadedDays + " of " + info.days + " days…"; return; }
        pts = [];
        var flagged = 0;
        matches.forEach(function (it) {
          if (!it.p) return;
          if (it.f) flagged++;
          pts.push({ type: "Feature", geometry: { type: "Point", coordinates: it.p },
            properties: { c: "cs", id: it.i, t: "by " + (it.u || "unknown user") + ": " + it.c, r: it.f } });
        });
        redraw();
        el.setAttribute("data-features", String(pts.length));
        st.textContent = pts.length + " changesets match (" + flagged + " with a reason to look, red).";
        st.setAttribute("data-count", String(pts.length));
        st.setAttribute("data-flagged", String(flagged));
      },
      failed: function (err) {
        st.hidden = false;
        st.textContent = "The filters are unavailable (" + err.message + "); the map shows the last 24 hours.";
      }
    });
  }
})();
