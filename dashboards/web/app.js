// roc42's built-in pages: draws the map (Leaflet) and the charts (uPlot) from the JSON the
// server put in the page (<script type="application/json">). Everything else is HTML.
(function () {
  "use strict";

  function data(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function esc(s) {
    const d = document.createElement("div");
    d.textContent = s == null ? "" : String(s);
    return d.innerHTML;
  }

  function drawMap() {
    const d = data("map-data");
    const el = document.getElementById("map");
    if (!d || !el || !window.L) return;
    const map = L.map(el, { zoomSnap: 0.5 });
    // Without tiles (none configured, or the tile server out of reach) the map still
    // shows sites and devices, on the container's plain background.
    if (d.tiles.url) {
      L.tileLayer(d.tiles.url, { maxZoom: 19, attribution: d.tiles.attribution }).addTo(map);
    }
    const bounds = [];
    for (const s of d.sites) {
      const icon = L.divIcon({ className: "roc42-site", html: "<span>" + esc(s.name) + "</span>", iconSize: null });
      const m = L.marker([s.lat, s.lon], { icon: icon, title: s.name, keyboard: true, zIndexOffset: -100 });
      m.on("click", function () { window.location.href = s.url; });
      m.addTo(map);
      bounds.push([s.lat, s.lon]);
    }
    const devices = [];
    for (const f of d.devices.features) {
      if (!f.geometry) continue;
      const lon = f.geometry.coordinates[0];
      const lat = f.geometry.coordinates[1];
      const p = f.properties;
      const m = L.circleMarker([lat, lon], {
        radius: 8, weight: 2, fillOpacity: 0.9, className: "roc42-device state-" + p.state,
      });
      let html = "<strong>" + esc(p.name) + "</strong><br><small>" + esc(p.dev_eui) + " · " +
        esc(p.last_seen_text) + "</small>";
      if (p.site_id != null) {
        html += "<br><a href=\"/ui/sites/" + encodeURIComponent(p.site_id) + "\">" + esc(p.site) + "</a>";
      }
      if (p.latest_text.length) {
        html += "<ul>" + p.latest_text.map(function (l) { return "<li>" + esc(l) + "</li>"; }).join("") + "</ul>";
      }
      for (const a of p.alerts_text || []) html += "<div class=\"alert-text\">" + esc(a) + "</div>";
      m.bindPopup(html);
      m.addTo(map);
      devices.push({ dev_eui: p.dev_eui, state: p.state, marker: m });
      bounds.push([lat, lon]);
    }
    if (bounds.length) {
      map.fitBounds(bounds, { padding: [40, 40], maxZoom: 16 });
    } else if (d.center) {
      map.setView(d.center, 13);
    } else {
      map.setView([45.5, 4.3], 9); // the Loire
    }
    window.roc42 = { map: map, devices: devices, sites: d.sites };
  }

  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22"];

  function drawThresholds(u, thresholds) {
    const ctx = u.ctx;
    const dpr = window.devicePixelRatio || 1;
    const b = u.bbox;
    for (const t of thresholds) {
      const y = Math.round(u.valToPos(t.value, "y", true));
      if (y < b.top || y > b.top + b.height) continue;
      ctx.save();
      ctx.strokeStyle = t.color;
      ctx.fillStyle = t.color;
      ctx.lineWidth = 1.5 * dpr;
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.beginPath();
      ctx.moveTo(b.left, y);
      ctx.lineTo(b.left + b.width, y);
      ctx.stroke();
      ctx.font = (11 * dpr) + "px sans-serif";
      // uPlot leaves its axes' alignment on the context: set ours.
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      ctx.fillText(t.label, b.left + 4 * dpr, y - 3 * dpr);
      ctx.restore();
    }
  }

  function drawCharts() {
    if (!window.uPlot) return;
    const charts = [];
    for (const script of document.querySelectorAll("script.chart-data")) {
      const c = JSON.parse(script.textContent);
      const plot = script.parentElement.querySelector(".plot");
      // uPlot wants one x array shared by every series: the union of their times.
      const times = Array.from(new Set(c.series.flatMap(function (s) { return s.t; }))).sort(function (a, b) { return a - b; });
      if (!times.length || !plot) continue;
      const at = new Map(times.map(function (t, i) { return [t, i]; }));
      const columns = [times];
      for (const s of c.series) {
        const col = new Array(times.length).fill(null);
        s.t.forEach(function (t, i) { col[at.get(t)] = s.v[i]; });
        columns.push(col);
      }
      const series = [{}].concat(c.series.map(function (s, i) {
        const color = PALETTE[i % PALETTE.length];
        const out = { label: s.name, stroke: color, width: 1.5, spanGaps: c.kind !== "bars", points: { show: times.length < 50 } };
        if (c.kind === "bars") {
          out.paths = uPlot.paths.bars({ size: [0.7, 60] });
          out.fill = color + "99";
        } else if (c.kind === "step") {
          out.paths = uPlot.paths.stepped({ align: 1 });
        }
        return out;
      }));
      const top = Math.max.apply(null, c.thresholds.map(function (t) { return t.value; }).concat([-Infinity]));
      const opts = {
        width: Math.max(plot.clientWidth, 300),
        height: 240,
        series: series,
        scales: {
          x: { time: true },
          // Thresholds stay in view: a room far below them is worth seeing too.
          y: { range: function (u, min, max) {
            const hi = Math.max(max, top > -Infinity ? top * 1.08 : max);
            const lo = c.kind === "bars" ? 0 : min;
            return hi > lo ? [lo, hi] : [lo - 1, hi + 1];
          } },
        },
        axes: [{}, { label: c.unit, size: 60 }],
        hooks: { draw: [function (u) { drawThresholds(u, c.thresholds); }] },
      };
      const u = new uPlot(opts, columns, plot);
      charts.push({ id: c.id, points: times.length, series: c.series.length, plot: u });
    }
    window.addEventListener("resize", function () {
      for (const c of charts) {
        const w = c.plot.root.parentElement.clientWidth;
        if (w) c.plot.setSize({ width: Math.max(w, 300), height: 240 });
      }
    });
    window.roc42Charts = charts;
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawMap();
    drawCharts();
  });
})();
