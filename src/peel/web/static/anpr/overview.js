// The ANPR overview: cameras and alerts on a map, and alerts that arrive live.
//
// Loaded as <script type="module" src="/static/anpr/overview.js"> after Leaflet. Reads
// data-cameras (GeoJSON) and data-alerts (the alerts the server listed) from
// #anpr-overview-map, then listens to the alert stream named by #anpr-live's data-stream:
// each new alert is added to the top of the list and pinned on the map.

import { baseMap, drawCameras, fitTo, pinAlert, readJson } from "./map.js";
import { startLiveAlerts } from "./live.js";

let map = null;
const container = document.getElementById("anpr-overview-map");
if (container && window.L) {
  map = baseMap(container);
  const positions = drawCameras(map, readJson(container, "cameras", {}));
  const alerts = readJson(container, "alerts", []);
  for (const alert of Array.isArray(alerts) ? alerts.slice().reverse() : []) pinAlert(map, alert);
  fitTo(map, positions);
}

const live = document.getElementById("anpr-live");
if (live) {
  startLiveAlerts(live, (alert) => {
    if (map) pinAlert(map, alert)?.openPopup();
  });
}
