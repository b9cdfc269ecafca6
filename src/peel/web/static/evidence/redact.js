// Drawing the boxes to redact over a photo or a frame of a video, by mouse, touch or keyboard.
// Without JavaScript the page's number rows and suggestion checkboxes do the same job: this
// only adds the picture to draw on, and writes each drawn box into a hidden input named
// "drawn" ("x,y,width,height" and, for video, ",start,end") in the same form.

const MIN_SIZE = 4;
const YELLOW = "#ffdd00";
const BLACK = "#0b0c0c";

function decode(value) {
  const parts = value.split(",").map((part) => part.trim());
  if (parts.length !== 4 && parts.length !== 6) return null;
  const [x, y, width, height] = parts.slice(0, 4).map(Number);
  if (![x, y, width, height].every(Number.isFinite)) return null;
  return { x, y, width, height, start: parts[4] || "", end: parts[5] || "" };
}

function encode(box, isVideo) {
  const parts = [box.x, box.y, box.width, box.height].map((n) => String(Math.round(n)));
  if (isVideo && (box.start !== "" || box.end !== "")) parts.push(box.start, box.end);
  return parts.join(",");
}

function describe(box) {
  let text = `${Math.round(box.x)}, ${Math.round(box.y)}, ${Math.round(box.width)} × ${Math.round(box.height)} pixels`;
  if (box.start !== "" && box.end !== "") text += `, from ${box.start} s to ${box.end} s`;
  else if (box.start !== "") text += `, from ${box.start} s to the end`;
  else if (box.end !== "") text += `, from the start to ${box.end} s`;
  return text;
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

class Redactor {
  constructor(area) {
    this.area = area;
    this.form = area.closest("form");
    this.picture = document.getElementById("redact-picture");
    this.isVideo = area.dataset.kind === "video";
    this.noun = this.isVideo ? "video" : "photo";
    this.width = parseInt(area.dataset.width, 10) || 0;
    this.height = parseInt(area.dataset.height, 10) || 0;
    this.list = document.getElementById("drawn-boxes");
    this.faces = Array.from(this.form.querySelectorAll('input[name="face"]'))
      .map((input, index) => ({ input, number: index + 1, box: decode(input.value) }))
      .filter((face) => face.box);
    this.boxes = Array.from(this.form.querySelectorAll('input[name="drawn"]'))
      .map((input) => {
        const box = decode(input.value);
        const error = input.closest("li")?.querySelector(".govuk-error-message");
        if (box && error) box.error = error.textContent.trim();
        return box;
      })
      .filter(Boolean);
    this.selected = this.boxes.length ? this.boxes.length - 1 : -1;
    this.drag = null;
    this.poster = null;
    this.build();
    this.renderList();
    this.whenPictureReady();
  }

  build() {
    this.area.hidden = false;
    this.canvas = element("canvas", {
      tabindex: "0",
      role: "application",
      "aria-label": `The ${this.noun} with the boxes to redact`,
      "aria-describedby": "redact-drawing-hint",
    });
    this.canvas.style.display = "block";
    this.canvas.style.maxWidth = "100%";
    this.canvas.style.touchAction = "none";
    this.canvas.style.cursor = "crosshair";
    this.canvas.style.marginBottom = "15px";
    this.status = element("p", { class: "govuk-visually-hidden", "aria-live": "polite" });
    const add = element("button", { type: "button", class: "govuk-button govuk-button--secondary" }, "Add a box");
    add.addEventListener("click", () => {
      this.addBox();
      this.canvas.focus();
    });
    this.area.append(this.canvas, this.status, add);
    if (!this.isVideo) this.picture.closest("p").hidden = true;

    this.canvas.addEventListener("focus", () => {
      this.canvas.style.outline = `3px solid ${YELLOW}`;
      this.canvas.style.boxShadow = `0 0 0 6px ${BLACK}`;
    });
    this.canvas.addEventListener("blur", () => {
      this.canvas.style.outline = "";
      this.canvas.style.boxShadow = "";
    });
    this.canvas.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.canvas.addEventListener("pointermove", (event) => this.pointerMove(event));
    this.canvas.addEventListener("pointerup", (event) => this.pointerUp(event));
    this.canvas.addEventListener("pointercancel", () => {
      this.drag = null;
      this.draw();
    });
    this.canvas.addEventListener("keydown", (event) => this.keyDown(event));
    for (const face of this.faces) face.input.addEventListener("change", () => this.draw());
    if (window.ResizeObserver) new ResizeObserver(() => this.layout()).observe(this.area);
    else window.addEventListener("resize", () => this.layout());
  }

  whenPictureReady() {
    const ready = () => {
      if (!this.width || !this.height) {
        this.width = this.picture.naturalWidth || this.picture.videoWidth || 0;
        this.height = this.picture.naturalHeight || this.picture.videoHeight || 0;
      }
      this.layout();
    };
    if (this.isVideo) {
      for (const kind of ["loadedmetadata", "loadeddata", "seeked", "timeupdate", "pause"]) {
        this.picture.addEventListener(kind, ready);
      }
      if (this.picture.poster) {
        this.poster = new Image();
        this.poster.addEventListener("load", ready);
        this.poster.src = this.picture.poster;
      }
      if (this.picture.readyState >= 1) ready();
    } else if (this.picture.complete && this.picture.naturalWidth) {
      ready();
    } else {
      this.picture.addEventListener("load", ready);
    }
  }

  get source() {
    if (!this.isVideo) return this.picture.complete && this.picture.naturalWidth ? this.picture : null;
    return this.picture.readyState >= 2 ? this.picture : null;
  }

  get posterImage() {
    return this.poster && this.poster.complete && this.poster.naturalWidth ? this.poster : null;
  }

  // Draw a picture over the whole canvas; false when there is none or the browser drew nothing
  // (some cannot copy video frames to a canvas: a frame is never transparent, so check one pixel).
  paint(context, source) {
    if (!source) return false;
    context.drawImage(source, 0, 0, this.width, this.height);
    if (source !== this.picture || !this.isVideo) return true;
    const middle = context.getImageData(this.canvas.width / 2, this.canvas.height / 2, 1, 1);
    return middle.data[3] > 0;
  }

  layout() {
    if (!this.width || !this.height) return;
    const shown = Math.max(1, Math.min(this.area.clientWidth || this.width, this.width));
    this.scale = shown / this.width;
    this.ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(shown * this.ratio);
    this.canvas.height = Math.round(this.height * this.scale * this.ratio);
    this.canvas.style.width = `${shown}px`;
    this.canvas.style.height = `${Math.round(this.height * this.scale)}px`;
    this.draw();
  }

  // --- drawing ------------------------------------------------------------------------------

  draw() {
    if (!this.scale) return;
    const context = this.canvas.getContext("2d");
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const unit = this.scale * this.ratio;
    context.setTransform(unit, 0, 0, unit, 0, 0);
    if (!this.paint(context, this.source) && !this.paint(context, this.posterImage)) {
      context.fillStyle = "#505a5f";
      context.fillRect(0, 0, this.width, this.height);
    }
    for (const face of this.faces) {
      this.outline(context, face.box, `Face ${face.number}`, {
        dashed: !face.input.checked,
        filled: face.input.checked,
      });
    }
    this.boxes.forEach((box, index) => {
      this.outline(context, box, `Box ${index + 1}`, { filled: true, selected: index === this.selected });
    });
    if (this.drag && this.drag.kind === "draw" && this.drag.box) {
      this.outline(context, this.drag.box, "", { dashed: true });
    }
  }

  outline(context, box, label, { dashed = false, filled = false, selected = false } = {}) {
    const pixel = 1 / this.scale;
    if (filled) {
      context.fillStyle = "rgba(11, 12, 12, 0.35)";
      context.fillRect(box.x, box.y, box.width, box.height);
    }
    context.setLineDash(dashed ? [8 * pixel, 6 * pixel] : []);
    context.lineWidth = (selected ? 7 : 5) * pixel;
    context.strokeStyle = BLACK;
    context.strokeRect(box.x, box.y, box.width, box.height);
    context.lineWidth = (selected ? 4 : 2) * pixel;
    context.strokeStyle = YELLOW;
    context.strokeRect(box.x, box.y, box.width, box.height);
    context.setLineDash([]);
    if (selected) {
      const size = 8 * pixel;
      for (const [cx, cy] of [
        [box.x, box.y],
        [box.x + box.width, box.y],
        [box.x, box.y + box.height],
        [box.x + box.width, box.y + box.height],
      ]) {
        context.fillStyle = BLACK;
        context.fillRect(cx - size / 2 - pixel, cy - size / 2 - pixel, size + 2 * pixel, size + 2 * pixel);
        context.fillStyle = YELLOW;
        context.fillRect(cx - size / 2, cy - size / 2, size, size);
      }
    }
    if (label) {
      context.font = `bold ${14 * pixel}px system-ui, sans-serif`;
      const width = context.measureText(label).width + 8 * pixel;
      const top = Math.max(0, box.y - 20 * pixel);
      context.fillStyle = BLACK;
      context.fillRect(box.x, top, width, 20 * pixel);
      context.fillStyle = YELLOW;
      context.textBaseline = "middle";
      context.fillText(label, box.x + 4 * pixel, top + 10 * pixel);
    }
  }

  // --- editing ------------------------------------------------------------------------------

  clamp(box) {
    box.width = Math.max(1, Math.min(Math.round(box.width), this.width));
    box.height = Math.max(1, Math.min(Math.round(box.height), this.height));
    box.x = Math.max(0, Math.min(Math.round(box.x), this.width - box.width));
    box.y = Math.max(0, Math.min(Math.round(box.y), this.height - box.height));
    return box;
  }

  addBox(box) {
    if (!this.width || !this.height) return;
    const side = Math.max(MIN_SIZE, Math.round(Math.min(this.width, this.height) / 5));
    const added = box || {
      x: (this.width - side) / 2,
      y: (this.height - side) / 2,
      width: side,
      height: side,
      start: "",
      end: "",
    };
    this.boxes.push(this.clamp(added));
    this.selected = this.boxes.length - 1;
    this.renderList();
    this.announce(`Box ${this.selected + 1} added: ${describe(added)}`);
    this.draw();
  }

  removeBox(index) {
    const [removed] = this.boxes.splice(index, 1);
    if (!removed) return;
    if (this.selected === index) this.selected = -1;
    else if (this.selected > index) this.selected -= 1;
    this.renderList();
    this.announce(`Box ${index + 1} removed. ${this.boxes.length} drawn box${this.boxes.length === 1 ? "" : "es"} left.`);
    this.draw();
  }

  changed(index) {
    const box = this.boxes[index];
    delete box.error;
    const row = document.getElementById(`drawn-${index + 1}`);
    if (row) {
      row.querySelector("input[name=drawn]").value = encode(box, this.isVideo);
      row.querySelector(".peel-drawn-text").textContent = `Drawn box ${index + 1}: ${describe(box)}`;
      row.querySelector(".govuk-error-message")?.remove();
    }
    this.draw();
  }

  announce(text) {
    this.status.textContent = text;
  }

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: Math.max(0, Math.min(this.width, ((event.clientX - rect.left) / rect.width) * this.width)),
      y: Math.max(0, Math.min(this.height, ((event.clientY - rect.top) / rect.height) * this.height)),
    };
  }

  hit(list, at) {
    for (let index = list.length - 1; index >= 0; index -= 1) {
      const box = list[index];
      if (at.x >= box.x && at.x <= box.x + box.width && at.y >= box.y && at.y <= box.y + box.height) return index;
    }
    return -1;
  }

  pointerDown(event) {
    if (!this.scale || event.button > 0) return;
    event.preventDefault();
    this.canvas.focus();
    this.canvas.setPointerCapture(event.pointerId);
    const at = this.point(event);
    const index = this.hit(this.boxes, at);
    if (index >= 0) {
      this.selected = index;
      const box = this.boxes[index];
      this.drag = { kind: "move", index, dx: at.x - box.x, dy: at.y - box.y };
    } else {
      this.drag = { kind: "draw", from: at, box: null };
    }
    this.draw();
  }

  pointerMove(event) {
    if (!this.drag) return;
    const at = this.point(event);
    if (this.drag.kind === "move") {
      const box = this.boxes[this.drag.index];
      box.x = at.x - this.drag.dx;
      box.y = at.y - this.drag.dy;
      this.clamp(box);
      this.changed(this.drag.index);
    } else {
      const from = this.drag.from;
      this.drag.box = {
        x: Math.min(from.x, at.x),
        y: Math.min(from.y, at.y),
        width: Math.abs(at.x - from.x),
        height: Math.abs(at.y - from.y),
        start: "",
        end: "",
      };
      this.draw();
    }
  }

  pointerUp(event) {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    if (drag.kind === "move") {
      this.announce(`Box ${drag.index + 1}: ${describe(this.boxes[drag.index])}`);
      return;
    }
    const box = drag.box;
    if (box && box.width >= MIN_SIZE && box.height >= MIN_SIZE) {
      this.addBox(box);
      return;
    }
    const face = this.hit(this.faces.map((f) => f.box), this.point(event));
    if (face >= 0) {
      const { input, number } = this.faces[face];
      input.checked = !input.checked;
      this.announce(`Suggested face ${number} ${input.checked ? "ticked" : "unticked"}`);
    } else {
      this.selected = -1;
    }
    this.draw();
  }

  keyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "n" || event.key === "N") {
      event.preventDefault();
      this.addBox();
      return;
    }
    const box = this.boxes[this.selected];
    if (!box) return;
    if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      this.removeBox(this.selected);
      return;
    }
    if (event.key === "Escape") {
      this.selected = -1;
      this.draw();
      return;
    }
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    const step = Math.max(1, Math.round(Math.max(this.width, this.height) / 100));
    if (event.shiftKey) {
      box.width += move[0] * step;
      box.height += move[1] * step;
    } else {
      box.x += move[0] * step;
      box.y += move[1] * step;
    }
    this.clamp(box);
    this.changed(this.selected);
    this.announce(`Box ${this.selected + 1}: ${describe(box)}`);
  }

  // --- the list of drawn boxes and their hidden inputs -----------------------------------------

  renderList() {
    this.list.replaceChildren();
    if (!this.boxes.length) return;
    const heading = element("h2", { class: "govuk-heading-m" }, `Boxes drawn on the ${this.noun}`);
    const list = element("ul", { class: "govuk-list" });
    this.boxes.forEach((box, index) => list.append(this.row(box, index)));
    this.list.append(heading, list);
  }

  row(box, index) {
    const number = index + 1;
    const item = element("li", { id: `drawn-${number}` });
    if (box.error) {
      const error = element("p", { class: "govuk-error-message" });
      error.append(element("span", { class: "govuk-visually-hidden" }, "Error:"), ` ${box.error}`);
      item.append(error);
    }
    item.append(
      element("p", { class: "govuk-body peel-drawn-text" }, `Drawn box ${number}: ${describe(box)}`),
      element("input", { type: "hidden", name: "drawn", value: encode(box, this.isVideo) }),
    );
    if (this.isVideo) {
      const times = element("div", { class: "govuk-date-input" });
      for (const [key, label] of [
        ["start", "From (seconds)"],
        ["end", "To (seconds)"],
      ]) {
        const id = `drawn-${number}-${key}`;
        const wrapper = element("div", { class: "govuk-date-input__item" });
        const group = element("div", { class: "govuk-form-group" });
        const input = element("input", {
          class: "govuk-input govuk-date-input__input govuk-input--width-5",
          id,
          type: "text",
          inputmode: "decimal",
          spellcheck: "false",
          autocomplete: "off",
          value: box[key],
        });
        input.addEventListener("input", () => {
          box[key] = input.value.trim();
          this.changed(index);
        });
        group.append(element("label", { class: "govuk-label govuk-date-input__label", for: id }, label), input);
        wrapper.append(group);
        times.append(wrapper);
      }
      item.append(element("p", { class: "govuk-hint" }, "Leave the times empty to hide the area for the whole clip."), times);
    }
    const buttons = element("div", { class: "govuk-button-group" });
    const select = element("button", { type: "button", class: "govuk-button govuk-button--secondary" }, "Select");
    select.append(element("span", { class: "govuk-visually-hidden" }, ` drawn box ${number}`));
    select.addEventListener("click", () => {
      this.selected = index;
      this.draw();
      this.canvas.focus();
      this.announce(`Box ${number} selected: ${describe(box)}`);
    });
    const remove = element("button", { type: "button", class: "govuk-button govuk-button--warning" }, "Remove");
    remove.append(element("span", { class: "govuk-visually-hidden" }, ` drawn box ${number}`));
    remove.addEventListener("click", () => {
      this.removeBox(index);
      this.canvas.focus();
    });
    buttons.append(select, remove);
    item.append(buttons);
    return item;
  }
}

const area = document.getElementById("redact-drawing");
const picture = document.getElementById("redact-picture");
if (area && picture && area.closest("form") && window.HTMLCanvasElement) new Redactor(area);
