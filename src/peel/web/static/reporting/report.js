// Progressive enhancement for the public report form: a map to pick the place, and
// resumable uploads (tus) for large videos. Without JavaScript the form works as it is.

function pickMap(container) {
  const L = window.L;
  if (!L) return;
  const tiles = container.dataset.tiles;
  const latField = document.getElementById(container.dataset.latField);
  const lonField = document.getElementById(container.dataset.lonField);
  container.replaceChildren();
  container.classList.add("peel-map--active");
  const start = latField.value && lonField.value
    ? [parseFloat(latField.value), parseFloat(lonField.value)]
    : [parseFloat(container.dataset.centreLat || "52.5"), parseFloat(container.dataset.centreLon || "-1.5")];
  const map = L.map(container, { zoomControl: true }).setView(start, latField.value ? 16 : 6);
  // The map sits in a conditional reveal that is hidden until "A point on a map" is chosen,
  // so Leaflet first measures it as 0x0; without this a click lands far from where it looks.
  if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe(container);
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19, attribution: container.dataset.attribution || "" }).addTo(map);
  } else {
    const note = document.createElement("p");
    note.className = "govuk-body-s peel-map__note";
    note.textContent = "No background map is configured on this server. Choose another way to give the place.";
    container.after(note);
  }
  L.control.scale({ imperial: false }).addTo(map);
  let marker = latField.value ? L.marker(start).addTo(map) : null;
  map.on("click", (event) => {
    const { lat, lng } = event.latlng;
    latField.value = lat.toFixed(6);
    lonField.value = lng.toFixed(6);
    if (marker) marker.setLatLng(event.latlng); else marker = L.marker(event.latlng).addTo(map);
    const radio = document.querySelector('input[name="location_kind"][value="map"]');
    if (radio) radio.checked = true;
  });
}

function randomToken() {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function progressRow(list, name) {
  const row = document.createElement("div");
  row.className = "peel-upload";
  const label = document.createElement("p");
  label.className = "govuk-body-s";
  label.textContent = name;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", "Upload progress for " + name);
  row.append(label, bar);
  list.append(row);
  return { label, bar };
}

function resumableUploads(input) {
  const tus = window.tus;
  if (!tus || !tus.isSupported) return;
  const form = input.form;
  const list = document.getElementById("resumable-progress");
  input.dataset.enhanced = "true";
  input.addEventListener("change", () => {
    const files = Array.from(input.files);
    input.value = "";
    for (const file of files) {
      const token = randomToken();
      const row = progressRow(list, file.name);
      const upload = new tus.Upload(file, {
        endpoint: input.dataset.resumable,
        chunkSize: 8 * 1024 * 1024,
        retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
        metadata: { filename: file.name, filetype: file.type },
        headers: { "Upload-Token": token },
        storeFingerprintForResuming: false,
        onProgress(sent, total) {
          row.bar.value = Math.floor((sent / total) * 100);
        },
        onError(error) {
          row.label.textContent = file.name + ": could not upload (" + (error.message || error) + ")";
        },
        onSuccess() {
          const id = upload.url.split("/").pop();
          for (const [name, value] of [["upload_id", id], ["upload_token", token]]) {
            const hidden = document.createElement("input");
            hidden.type = "hidden";
            hidden.name = name;
            hidden.value = value;
            form.append(hidden);
          }
          row.label.textContent = file.name + ": uploaded";
          row.bar.value = 100;
        },
      });
      upload.start();
    }
  });
}

const mapContainer = document.getElementById("pick-map");
if (mapContainer) pickMap(mapContainer);
const evidenceInput = document.querySelector("input[data-resumable]");
if (evidenceInput) resumableUploads(evidenceInput);
