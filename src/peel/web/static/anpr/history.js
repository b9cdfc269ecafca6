// Vehicle history: the sightings on a map, joined in time order, with a time slider.
//
// Loaded as <script type="module" src="/static/anpr/history.js"> after Leaflet. Reads
// data-trail from #anpr-history-map: [{t (ms since 1970), at (text), lat, lon, camera, plate}].
// The range input #anpr-time (hidden until this runs) reveals the sightings up to the chosen
// time: each is a circle, the path between them a line; the first sighting is green, the
// latest one shown is red. Without JavaScript the table of sightings tells the same story.

import { baseMap, fitTo, isPlace, lines, readJson } from "./map.js";

const FIRST = "#00703c";
const LATEST = "#d4351c";
const OTHER = "#1d70b8";

function drawTrail(container, timeline) {
  const L = window.L;
  const trail = readJson(container, "trail", [])
    .filter((p) => p && Number.isFinite(p.t) && isPlace(p.lat, p.lon))
    .sort((a, b) => a.t - b.t);
  if (trail.length === 0) return;
  const map = baseMap(container);
  const path = L.polyline([], { className: "peel-anpr-path", color: OTHER, weight: 3, opacity: 0.7 }).addTo(map);
  const markers = trail.map((p) =>
    L.circleMarker([p.lat, p.lon], { radius: 7, className: "peel-anpr-sighting", weight: 2, fillOpacity: 0.9 })
      .bindTooltip(lines(p.plate, p.camera, `${p.at} UTC`)),
  );
  const slider = timeline.querySelector("#anpr-time");
  const shown = timeline.querySelector("#anpr-time-shown");

  function show(upTo) {
    const visible = [];
    trail.forEach((p, i) => {
      if (p.t <= upTo) visible.push(i);
      else markers[i].remove();
    });
    visible.forEach((i, n) => {
      const colour = n === 0 ? FIRST : n === visible.length - 1 ? LATEST : OTHER;
      markers[i].setStyle({ color: colour, fillColor: colour });
      if (!map.hasLayer(markers[i])) markers[i].addTo(map);
    });
    path.setLatLngs(visible.map((i) => [trail[i].lat, trail[i].lon]));
    const last = visible.length ? trail[visible[visible.length - 1]] : null;
    shown.textContent = last
      ? `${last.at} UTC: ${visible.length} of ${trail.length} sightings, the latest at ${last.camera}`
      : `No sightings before ${new Date(upTo).toISOString().slice(0, 16).replace("T", " ")} UTC`;
    container.dataset.visible = String(visible.length);
  }

  slider.min = String(trail[0].t);
  slider.max = String(trail[trail.length - 1].t);
  slider.value = slider.max;
  slider.addEventListener("input", () => show(Number(slider.value)));
  timeline.hidden = false;
  show(trail[trail.length - 1].t);
  fitTo(map, trail.map((p) => [p.lat, p.lon]));
}

const container = document.getElementById("anpr-history-map");
const timeline = document.getElementById("anpr-timeline");
if (container && timeline && window.L) drawTrail(container, timeline);
