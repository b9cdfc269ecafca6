// Staff report maps: the reports listed on the page, drawn on a plain Leaflet map.
//
// Loaded as <script type="module" src="/static/reporting/staff-map.js"> after
// /static/vendor/leaflet/leaflet.js. Reads <div class="peel-map" data-points='[...]'>, where
// each point is {id, reference, category, status, lat, lon}. Police networks are closed, so
// there is no tile layer unless the page names one in data-tiles: just the points, on Leaflet's
// light background, with a scale bar. Popups are built from DOM nodes with textContent, never
// from HTML strings, so nothing in a report can become markup. Without JavaScript the map stays
// hidden and the page's table is the whole story.

const DETAIL_ZOOM = 16;

function isPoint(point) {
  return (
    point !== null &&
    typeof point === "object" &&
    typeof point.id === "string" &&
    Number.isFinite(point.lat) &&
    Number.isFinite(point.lon) &&
    Math.abs(point.lat) <= 90 &&
    Math.abs(point.lon) <= 180
  );
}

function readPoints(container) {
  try {
    const points = JSON.parse(container.dataset.points || "[]");
    return Array.isArray(points) ? points.filter(isPoint) : [];
  } catch {
    return [];
  }
}

function popupFor(point) {
  const box = document.createElement("div");
  const title = document.createElement("p");
  title.className = "govuk-body govuk-!-font-weight-bold govuk-!-margin-bottom-1";
  const link = document.createElement("a");
  link.className = "govuk-link";
  link.href = "/staff/reports/" + encodeURIComponent(point.id);
  link.textContent = String(point.reference ?? "Report");
  title.append(link);
  box.append(title);
  for (const text of [point.category, point.status]) {
    if (text) {
      const line = document.createElement("p");
      line.className = "govuk-body-s govuk-!-margin-bottom-0";
      line.textContent = String(text);
      box.append(line);
    }
  }
  return box;
}

function drawMap(container) {
  const L = window.L;
  const points = readPoints(container);
  if (!L || points.length === 0) return;
  container.hidden = false;
  const tiles = container.dataset.tiles;
  const map = L.map(container, { minZoom: 5, maxZoom: 19, attributionControl: Boolean(tiles) });
  if (tiles) {
    map.attributionControl.setPrefix(false);
    L.tileLayer(tiles, { maxZoom: 19, attribution: container.dataset.attribution || "" }).addTo(map);
  }
  L.control.scale({ imperial: true, metric: true }).addTo(map);
  const positions = [];
  for (const point of points) {
    const position = [point.lat, point.lon];
    positions.push(position);
    const label = "Report " + String(point.reference ?? "");
    L.marker(position, { title: label, alt: label, keyboard: true })
      .bindPopup(popupFor(point))
      .addTo(map);
  }
  if (positions.length === 1) {
    map.setView(positions[0], DETAIL_ZOOM);
  } else {
    map.fitBounds(L.latLngBounds(positions), { padding: [32, 32], maxZoom: DETAIL_ZOOM });
  }
}

for (const container of document.querySelectorAll(".peel-map[data-points]")) {
  drawMap(container);
}
