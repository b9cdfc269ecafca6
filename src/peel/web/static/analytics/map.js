// Analytics hotspot map: the cells listed on the page, drawn on a plain Leaflet map.
//
// Loaded as <script type="module" src="/static/analytics/map.js"> after
// /static/vendor/leaflet/leaflet.js. Reads <div class="peel-analytics-map" data-cells='{GeoJSON}'>,
// a FeatureCollection of cell polygons whose properties are {level (0–1), hot, value}. Cells are
// shaded by level; Gi* hot cells get a thick dark outline. No tile layer unless the page names
// one in data-tiles (police networks are closed). Tooltips use textContent, never HTML strings.
// Without JavaScript the map stays hidden and the page's table of top cells is the whole story.

const RAMP = ["#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];

function readCells(container) {
  try {
    const data = JSON.parse(container.dataset.cells || "{}");
    if (!data || data.type !== "FeatureCollection" || !Array.isArray(data.features)) return null;
    return data;
  } catch {
    return null;
  }
}

function colourFor(level) {
  const value = Number.isFinite(level) ? Math.max(0, Math.min(1, level)) : 0;
  return RAMP[Math.min(RAMP.length - 1, Math.floor(value * RAMP.length))];
}

function styleFor(feature) {
  const props = feature.properties || {};
  const hot = props.hot === true;
  return {
    fillColor: colourFor(props.level),
    fillOpacity: 0.75,
    color: hot ? "#0b0c0c" : "#505a5f",
    weight: hot ? 3 : 0.5,
  };
}

function tooltipFor(feature) {
  const props = feature.properties || {};
  const box = document.createElement("span");
  const value = Number(props.value);
  box.textContent =
    "Value " + (Number.isFinite(value) ? value.toPrecision(3) : "?") +
    (props.hot === true ? " – significant hot spot" : "");
  return box;
}

function drawMap(container) {
  const L = window.L;
  const cells = readCells(container);
  if (!L || !cells || cells.features.length === 0) return;
  container.hidden = false;
  const tiles = container.dataset.tiles;
  const map = L.map(container, { minZoom: 5, maxZoom: 19, attributionControl: Boolean(tiles) });
  if (tiles) {
    map.attributionControl.setPrefix(false);
    L.tileLayer(tiles, { maxZoom: 19, attribution: container.dataset.attribution || "" }).addTo(map);
  }
  L.control.scale({ imperial: true, metric: true }).addTo(map);
  const layer = L.geoJSON(cells, {
    style: styleFor,
    onEachFeature: (feature, shape) => shape.bindTooltip(tooltipFor(feature)),
  }).addTo(map);
  map.fitBounds(layer.getBounds(), { padding: [16, 16] });
}

for (const container of document.querySelectorAll(".peel-analytics-map[data-cells]")) {
  drawMap(container);
}
