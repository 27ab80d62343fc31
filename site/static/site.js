// Relative times next to the UTC times; the page is complete without this.
(function () {
  var now = Date.now();
  function rel(ms) {
    var s = Math.round((now - ms) / 1000), a = Math.abs(s), u = [[86400, "d"], [3600, "h"], [60, "min"]];
    for (var i = 0; i < u.length; i++) if (a >= u[i][0]) return (s < 0 ? "in " : "") + Math.floor(a / u[i][0]) + " " + u[i][1] + (s < 0 ? "" : " ago");
    return "just now";
  }
  var ts = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < ts.length; i++) {
    var t = Date.parse(ts[i].getAttribute("datetime"));
    if (!isNaN(t)) { var sp = document.createElement("span"); sp.className = "rel"; sp.textContent = " (" + rel(t) + ")"; ts[i].after(sp); }
  }
})();
