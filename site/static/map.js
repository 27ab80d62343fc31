// Draws the map of a changeset page or of the overview page from the JSON in #map-data.
// Everything from the data goes into the page as text (textContent), never as HTML.
(function () {
  var el = document.getElementById("map"), dataEl = document.getElementById("map-data");
  if (!el || !dataEl || typeof L === "undefined") return;
  var data;
  try { data = JSON.parse(dataEl.textContent); } catch (e) { return; }
  var map = L.map(el, { scrollWheelZoom: false });
  var tiles = el.getAttribute("data-tiles");
  if (tiles) {
    var esc = function (s) { return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); };
    L.tileLayer(tiles, { maxZoom: 19, attribution: esc(el.getAttribute("data-attribution") || "") }).addTo(map);
  }
  var styles = {
    create: { color: "#1f9d3a", weight: 4, fillOpacity: 0.25 },
    "delete": { color: "#d23c3c", weight: 4, fillOpacity: 0.25 },
    before: { color: "#777777", weight: 3, dashArray: "6 6", fillOpacity: 0.05 },
    modify: { color: "#2f6fd6", weight: 4, fillOpacity: 0.2 },
    cs: { color: "#2f6fd6", weight: 1, fillOpacity: 0.04 }
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
    } else if (p.c !== "before") {
      box.appendChild(text("div", "no tag changes"));
    }
    return box;
  }
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
  var overview = el.getAttribute("data-map") === "overview";
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
})();
