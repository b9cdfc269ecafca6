// Shared pieces of the ANPR maps: a plain Leaflet map, cameras, alert pins.
//
// Imported by overview.js and history.js (ES modules; /static/vendor/leaflet/leaflet.js is
// loaded before them and defines window.L). Data comes from data- attributes holding JSON;
// every label is built with textContent, never from HTML strings, so nothing a camera or a
// hotlist says can become markup. Police networks are closed: there is no tile layer unless
// the page names one in data-tiles, so cameras and trails are drawn on Leaflet's plain
// background with a scale bar.

const DETAIL_ZOOM = 15;

export function readJson(container, name, fallback) {
  try {
    const value = JSON.parse(container.dataset[name] || "null");
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

export function isPlace(lat, lon) {
  return Number.isFinite(lat) && Number.isFinite(lon) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
}

export function baseMap(container) {
  const L = window.L;
  container.hidden = false;
  const tiles = container.dataset.tiles;
  const map = L.map(container, { minZoom: 4, maxZoom: 19, attributionControl: Boolean(tiles) });
  if (tiles) {
    map.attributionControl.setPrefix(false);
    L.tileLayer(tiles, { maxZoom: 19, attribution: container.dataset.attribution || "" }).addTo(map);
  }
  L.control.scale({ imperial: true, metric: true }).addTo(map);
  return map;
}

export function fitTo(map, positions) {
  const L = window.L;
  if (positions.length === 0) {
    map.setView([54.0, -2.5], 6);
  } else if (positions.length === 1) {
    map.setView(positions[0], DETAIL_ZOOM);
  } else {
    map.fitBounds(L.latLngBounds(positions), { padding: [24, 24], maxZoom: DETAIL_ZOOM });
  }
}

export function lines(...texts) {
  const box = document.createElement("div");
  for (const [index, text] of texts.entries()) {
    if (!text) continue;
    const line = document.createElement(index === 0 ? "strong" : "span");
    line.textContent = String(text);
    if (box.childNodes.length) box.append(document.createElement("br"));
    box.append(line);
  }
  return box;
}

// Cameras from a GeoJSON FeatureCollection of points with properties {id, name, direction}.
export function drawCameras(map, collection) {
  const L = window.L;
  const positions = [];
  const features = collection && Array.isArray(collection.features) ? collection.features : [];
  for (const feature of features) {
    const coords = feature && feature.geometry && feature.geometry.coordinates;
    if (!Array.isArray(coords)) continue;
    const [lon, lat] = coords.map(Number);
    if (!isPlace(lat, lon)) continue;
    const props = feature.properties || {};
    positions.push([lat, lon]);
    L.circleMarker([lat, lon], {
      radius: 5,
      className: "peel-anpr-camera",
      color: "#1d70b8",
      weight: 2,
      fillColor: "#ffffff",
      fillOpacity: 1,
    })
      .bindTooltip(lines(props.name, "Camera id " + String(props.id ?? ""), props.direction))
      .addTo(map);
  }
  return positions;
}

// One alert as a pin: {plate_display, camera_name, read_at_text, priority, reason, lat, lon}.
export function pinAlert(map, alert) {
  const L = window.L;
  const lat = Number(alert.lat);
  const lon = Number(alert.lon);
  if (!isPlace(lat, lon)) return null;
  const label = "Alert: " + String(alert.plate_display ?? alert.plate ?? "");
  const pin = L.marker([lat, lon], { title: label, alt: label, keyboard: true, riseOnHover: true })
    .bindPopup(
      lines(
        String(alert.plate_display ?? alert.plate ?? ""),
        "Priority " + String(alert.priority ?? ""),
        alert.reason,
        String(alert.camera_name ?? "") + ", " + String(alert.read_at_text ?? "") + " UTC",
      ),
    )
    .addTo(map);
  pin.getElement()?.classList.add("peel-anpr-alert-pin");
  return pin;
}
