// Resumable uploads (tus) for the evidence case page. Each chosen file is sent to
// /api/v1/uploads/ in pieces that carry on after a dropped connection; when a file has
// arrived, its upload id is posted to the case, which turns it into an evidence item.
// Without JavaScript the same form sends the files itself.

function randomToken() {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function progressRow(list, name) {
  const row = document.createElement("div");
  row.className = "peel-upload";
  const label = document.createElement("p");
  label.className = "govuk-body-s govuk-!-margin-bottom-1";
  label.textContent = name + ": waiting";
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", "Upload progress for " + name);
  row.append(label, bar);
  list.append(row);
  return {
    say(text) {
      label.textContent = name + ": " + text;
    },
    bar,
  };
}

// The sentence Peel gave for a refused upload (a problem+json document), if there is one.
function reasonFrom(error) {
  const response = error && error.originalResponse;
  if (response) {
    try {
      const problem = JSON.parse(response.getBody());
      if (problem.detail) return problem.detail;
    } catch (_) {
      // not JSON: fall back to the client's own message
    }
  }
  return (error && error.message) || String(error);
}

function firstError(data) {
  const errors = (data && data.errors) || {};
  const messages = Object.values(errors);
  return messages.length ? messages[0] : "the file could not be added to the case";
}

function caseUploader(input) {
  const tus = window.tus;
  if (!tus || !tus.isSupported || !window.fetch) return;
  const form = input.form;
  const csrf = form.querySelector('input[name="csrf_token"]').value;
  const description = form.querySelector('[name="description"]');
  const list = document.getElementById(input.dataset.progress);
  const fallback = form.querySelector("[data-fallback]");
  let running = 0;
  let added = 0;
  let failed = 0;

  input.dataset.enhanced = "true";
  if (fallback) fallback.hidden = true;

  function finished(ok) {
    running -= 1;
    if (ok) added += 1;
    else failed += 1;
    if (running > 0) return;
    if (added && !failed) {
      window.location.assign(input.dataset.done);
    } else if (added) {
      const note = document.createElement("p");
      note.className = "govuk-body";
      const link = document.createElement("a");
      link.className = "govuk-link";
      link.href = input.dataset.done;
      link.textContent = "Show the files that were added";
      note.append(link);
      list.append(note);
    }
  }

  async function addToCase(uploadId, row) {
    const body = new URLSearchParams();
    body.append("csrf_token", csrf);
    body.append("upload_id", uploadId);
    if (description) body.append("description", description.value);
    row.say("adding to the case");
    try {
      const response = await fetch(input.dataset.addTo, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        row.say("not added: " + firstError(data));
        finished(false);
        return;
      }
      row.say("added to the case");
      finished(true);
    } catch (_) {
      row.say("uploaded, but the connection dropped before it was added; try again");
      finished(false);
    }
  }

  function send(file) {
    running += 1;
    const row = progressRow(list, file.name);
    const upload = new tus.Upload(file, {
      endpoint: input.dataset.resumable,
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: { filename: file.name, filetype: file.type, purpose: "evidence" },
      headers: { "X-CSRF-Token": csrf, "Upload-Token": randomToken() },
      storeFingerprintForResuming: false,
      // The bar shows progress; the words (read out by screen readers) change only at
      // each step, not with every piece sent.
      onProgress(sent, total) {
        row.bar.value = Math.floor((sent / total) * 100);
      },
      onError(error) {
        row.say("could not upload (" + reasonFrom(error) + ")");
        finished(false);
      },
      onSuccess() {
        row.bar.value = 100;
        addToCase(upload.url.split("/").pop(), row);
      },
    });
    row.say("uploading");
    upload.start();
  }

  input.addEventListener("change", () => {
    const files = Array.from(input.files);
    input.value = "";
    for (const file of files) send(file);
  });
}

const evidenceInput = document.querySelector("input[data-resumable][data-add-to]");
if (evidenceInput) caseUploader(evidenceInput);
