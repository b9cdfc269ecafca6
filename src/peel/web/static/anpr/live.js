// Live hotlist alerts: new alerts from the server-sent event stream, newest first.
//
// startLiveAlerts(section, onAlert) opens an EventSource on section.dataset.stream and, for
// each alert, adds an item to #anpr-alerts shaped like the server-rendered ones
// (templates/anpr/_macros.html alert_item), hides the "no alerts" message and calls onAlert.
// Alerts already listed (same data-alert-id) are not added twice. The browser reconnects by
// itself if the stream drops; the status line says so. Text goes in with textContent only.

const MAX_ITEMS = 100;

function priorityClass(priority) {
  if (priority >= 75) return "govuk-tag--red";
  if (priority >= 40) return "govuk-tag--orange";
  return "govuk-tag--grey";
}

function readAt(alert) {
  if (alert.read_at_text) return String(alert.read_at_text);
  const when = new Date(String(alert.read_at ?? ""));
  if (Number.isNaN(when.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return (
    `${pad(when.getUTCDate())} ${months[when.getUTCMonth()]} ${when.getUTCFullYear()} ` +
    `${pad(when.getUTCHours())}:${pad(when.getUTCMinutes())}:${pad(when.getUTCSeconds())}`
  );
}

// The stream's alert in the shape the page uses (missing fields become empty text).
export function normalise(raw) {
  const priority = Number(raw.priority);
  return {
    id: String(raw.id ?? raw.alert_id ?? ""),
    plate: String(raw.plate ?? ""),
    plate_display: String(raw.plate_display ?? raw.plate ?? ""),
    plate_read: String(raw.plate_read ?? ""),
    camera_name: String(raw.camera_name ?? raw.camera_id ?? ""),
    read_at_text: readAt(raw),
    priority: Number.isFinite(priority) ? priority : 0,
    reason: String(raw.reason ?? ""),
    list_name: String(raw.list_name ?? ""),
    match: String(raw.match ?? raw.kind ?? ""),
    lat: raw.lat,
    lon: raw.lon,
  };
}

function span(className, text) {
  const node = document.createElement("span");
  node.className = className;
  node.textContent = text;
  return node;
}

export function alertItem(alert) {
  const item = document.createElement("li");
  item.className = "peel-anpr-alert peel-anpr-alert--new";
  item.dataset.alertId = alert.id;
  const tag = document.createElement("strong");
  tag.className = `govuk-tag ${priorityClass(alert.priority)} peel-anpr-priority`;
  tag.textContent = `Priority ${alert.priority}`;
  let what = alert.reason + (alert.list_name ? ` (${alert.list_name})` : "");
  if (alert.match === "fuzzy") what += `, look-alike read “${alert.plate_read}”`;
  item.append(
    tag,
    " ",
    span("peel-anpr-plate", alert.plate_display),
    " ",
    span("govuk-body-s peel-anpr-alert__what", what),
    " ",
    span("govuk-body-s peel-anpr-alert__where", `${alert.camera_name}, ${alert.read_at_text} UTC`),
  );
  return item;
}

function setStatus(status, text) {
  if (!status) return;
  status.replaceChildren(document.createTextNode(text));
}

export function startLiveAlerts(section, onAlert) {
  const url = section.dataset.stream;
  const list = section.querySelector("#anpr-alerts");
  const empty = section.querySelector("#anpr-alerts-empty");
  const status = section.querySelector("#anpr-live-status");
  if (!url || !list || typeof window.EventSource !== "function") return null;
  const source = new EventSource(url);
  const receive = (event) => {
    let raw;
    try {
      raw = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!raw || typeof raw !== "object") return;
    const alert = normalise(raw);
    if (alert.id && list.querySelector(`[data-alert-id="${CSS.escape(alert.id)}"]`)) return;
    list.prepend(alertItem(alert));
    while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
    if (empty) empty.hidden = true;
    onAlert(alert);
  };
  source.addEventListener("alert", receive);
  source.addEventListener("message", receive);
  source.addEventListener("open", () => {
    section.dataset.live = "open";
    setStatus(status, "Live: new alerts appear at the top of this list as cameras read hotlisted plates.");
  });
  source.addEventListener("error", () => {
    section.dataset.live = "reconnecting";
    setStatus(status, "The live feed was interrupted; reconnecting. Reload the page to see alerts you may have missed.");
  });
  return source;
}
