// Wirewatch web: the incidents map (Leaflet, vendored). No inline script anywhere: this file
// reads its inputs from data- attributes and builds every popup from text nodes, so nothing
// an article brings is ever parsed as HTML.
(function () {
  "use strict";

  // One colour per ACLED sub-event type; other types get a stable colour from their name.
  var COLOURS = {
    "Air/drone strike": "#d7301f",
    "Shelling/artillery/missile attack": "#ef6548",
    "Remote explosive/landmine/IED": "#6a51a3",
    "Suicide bomb": "#3f007d",
    "Grenade": "#807dba",
    "Armed clash": "#2171b5",
    "Attack": "#e7298a",
    "Abduction/forced disappearance": "#238b45",
    "Chemical weapon": "#b8860b"
  };
  var SPARE = ["#1b9e77", "#d95f02", "#7570b3", "#66a61e", "#e6ab02", "#a6761d", "#666666"];

  function colour(type) {
    if (Object.prototype.hasOwnProperty.call(COLOURS, type)) return COLOURS[type];
    var h = 0;
    for (var i = 0; i < type.length; i++) h = (h * 31 + type.charCodeAt(i)) >>> 0;
    return SPARE[h % SPARE.length];
  }

  // Area grows with the toll: radius 5 px for none, about 17 px for 100 killed, capped at 30.
  function radius(killed) {
    var k = killed > 0 ? killed : 0;
    return Math.min(30, 5 + 1.2 * Math.sqrt(k));
  }

  function escapeText(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function popup(p) {
    var box = document.createElement("div");
    var a = document.createElement("a");
    a.href = "/incidents/" + encodeURIComponent(p.id);
    a.textContent = p.place || "unknown place";
    box.appendChild(a);
    var lines = [p.event_type, p.date || "date unknown", p.killed === null || p.killed === undefined ? "killed: not stated" : "killed: " + p.killed];
    lines.forEach(function (text) {
      var div = document.createElement("div");
      div.textContent = text;
      box.appendChild(div);
    });
    return box;
  }

  function addTiles(map, el) {
    var url = el.getAttribute("data-tiles");
    if (!url) return;
    // Leaflet writes attributions as HTML: the configured text is escaped first.
    L.tileLayer(url, { maxZoom: 18, attribution: escapeText(el.getAttribute("data-attribution") || "") }).addTo(map);
  }

  function marker(p) {
    var c = colour(p.event_type);
    return L.circleMarker([p.lat, p.lon], {
      radius: radius(p.killed),
      color: c,
      weight: 1,
      fillColor: c,
      fillOpacity: 0.6,
      className: "incident-marker"
    }).bindPopup(popup(p));
  }

  function legend(types) {
    var box = document.getElementById("legend");
    if (!box) return;
    types.forEach(function (t) {
      var item = document.createElement("span");
      var sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = colour(t);
      item.appendChild(sw);
      item.appendChild(document.createTextNode(t));
      box.appendChild(item);
    });
  }

  function colourSwatches() {
    document.querySelectorAll(".swatch[data-type]").forEach(function (el) {
      el.style.background = colour(el.getAttribute("data-type"));
    });
  }

  function incidentsMap(el) {
    var map = L.map(el, { worldCopyJump: true }).setView([20, 20], 2);
    addTiles(map, el);
    fetch(el.getAttribute("data-points"), { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        var layer = L.featureGroup();
        var types = {};
        data.points.forEach(function (p) {
          marker(p).addTo(layer);
          types[p.event_type] = true;
        });
        layer.addTo(map);
        el.setAttribute("data-markers", String(data.points.length));
        if (data.points.length) map.fitBounds(layer.getBounds().pad(0.2), { maxZoom: 9 });
        legend(Object.keys(types).sort());
        var note = document.getElementById("map-note");
        if (note && data.truncated) {
          note.textContent = "The map shows the " + data.points.length + " newest incidents of this view; narrow the filter to see the rest.";
          note.hidden = false;
        }
      })
      .catch(function (err) {
        el.setAttribute("data-error", String(err));
      });
  }

  function singleMap(el) {
    var p = {
      id: el.getAttribute("data-id"),
      lat: parseFloat(el.getAttribute("data-lat")),
      lon: parseFloat(el.getAttribute("data-lon")),
      event_type: el.getAttribute("data-type"),
      killed: el.getAttribute("data-killed") === "" ? null : parseInt(el.getAttribute("data-killed"), 10),
      place: el.getAttribute("data-place")
    };
    var map = L.map(el).setView([p.lat, p.lon], 8);
    addTiles(map, el);
    marker(p).addTo(map);
    el.setAttribute("data-markers", "1");
  }

  colourSwatches();
  var el = document.getElementById("map");
  if (el && window.L) {
    if (el.getAttribute("data-single")) singleMap(el);
    else incidentsMap(el);
  }
})();
