"""Redacting a photo or video: a person confirms each box, then a job makes a redacted copy.

Faces found automatically are only suggestions, shown ticked for a person to keep or untick;
boxes can also be typed (works without JavaScript) or drawn over the picture. The original is
never changed: the job stores a redacted copy as a new item linked to it, and the custody log
records the boxes and the mode so anyone can repeat the work and get the same result.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from peel.core.blobstore import BlobStore
from peel.core.deps import DB, CsrfForm, Person
from peel.core.errors import InvalidInput
from peel.evidence import jobs, media, processing, service
from peel.evidence.models import EvidenceItem
from peel.web.templating import render

router = APIRouter(include_in_schema=False)

#: Rows of number boxes for people without JavaScript (or who prefer typing).
MANUAL_ROWS = 3
MODES = [
    ("blur", "Blur – the area is pixelated and blurred beyond recognition"),
    ("black", "Black out – the area is covered with solid black"),
]
BOX_FIELDS = ("x", "y", "width", "height", "start", "end")
PIXEL_LABELS = {"x": "x", "y": "y", "width": "the width", "height": "the height"}
_PIXELS = re.compile(r"^[+-]?\d{1,7}$")
_SECONDS = re.compile(r"^[+-]?\d{1,7}(\.\d{1,3})?$")


@dataclass
class Picture:
    """What the page knows of the picture: its size as displayed and, for video, its length."""

    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass
class Suggestion:
    number: int
    value: str
    label: str


@dataclass
class Candidate:
    """One box a person asked for, before it is checked: where it came from and its fields."""

    anchor: str
    label: str
    raw: dict[str, str]


@dataclass
class Redaction:
    """The form's state: what was suggested, ticked, typed and drawn."""

    suggestions: list[Suggestion] = field(default_factory=list)
    ticked: set[str] = field(default_factory=set)
    note: str = ""
    manual: list[dict[str, str]] = field(default_factory=list)
    drawn: list[str] = field(default_factory=list)
    mode: str = "blur"


def _not_redactable(item: EvidenceItem) -> str | None:
    if item.status != "present":
        return "This item's file has been deleted, so there is nothing to redact."
    if item.kind not in ("image", "video"):
        return (
            f"Only photos and videos can be redacted. {item.name} is a {item.kind} file; "
            "to share part of it, ask the officer in charge how it should be edited."
        )
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _picture_of(item: EvidenceItem, path: Path | None) -> Picture:
    """The size recorded when the item was described, else read from the file itself."""
    capture: dict[str, Any] = dict(item.capture or {})
    if path is not None and not (capture.get("width") and capture.get("height")):
        with contextlib.suppress(media.MediaError):
            capture.update(media.probe(path, item.kind))
    width, height = _number(capture.get("width")), _number(capture.get("height"))
    return Picture(
        width=int(width) if width else None,
        height=int(height) if height else None,
        duration=_number(capture.get("duration_seconds")),
    )


def _suffix(item: EvidenceItem) -> str:
    return Path(item.name).suffix.lower()[:10]


def _encode(box: dict[str, Any]) -> str:
    """A box as the form carries it: ``x,y,width,height`` and, for video, ``,start,end``."""
    parts = [str(int(box[k])) for k in ("x", "y", "width", "height")]
    if "start" in box or "end" in box:
        parts += [_seconds(box.get("start")), _seconds(box.get("end"))]
    return ",".join(parts)


def _decode(value: str) -> dict[str, str] | None:
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (4, 6):
        return None
    return dict(zip(BOX_FIELDS, parts, strict=False))


def _seconds(value: object) -> str:
    number = _number(value)
    return "" if number is None else f"{number:.3f}".rstrip("0").rstrip(".")


def describe_box(raw: dict[str, str]) -> str:
    """'284, 126, 259 × 259 pixels' and, for a time range, ', from 0 s to 2.5 s'."""
    text = f"{raw['x']}, {raw['y']}, {raw['width']} × {raw['height']} pixels"
    start, end = raw.get("start") or "", raw.get("end") or ""
    if start and end:
        text += f", from {start} s to {end} s"
    elif start:
        text += f", from {start} s to the end"
    elif end:
        text += f", from the start to {end} s"
    return text


def _suggestions(faces: Sequence[dict[str, Any]]) -> list[Suggestion]:
    found = []
    for number, face in enumerate(faces, start=1):
        value = _encode(face)
        raw = _decode(value) or {}
        found.append(Suggestion(number, value, f"Suggested face {number}: {describe_box(raw)}"))
    return found


def _examine(store: BlobStore, item: EvidenceItem) -> tuple[Picture, list[Suggestion], str]:
    """The picture's size and the faces found in it (or why none could be looked for)."""
    with processing.local_copy(store, item.sha256, _suffix(item)) as path:
        picture = _picture_of(item, path)
        try:
            faces = media.suggest_faces(path, item.kind)
        except media.MediaError as exc:
            problem = str(exc).replace(str(path), item.name)
            return picture, [], f"Faces could not be looked for automatically: {problem}."
    return picture, _suggestions(faces), ""


def _page(
    request: Request,
    item: EvidenceItem,
    picture: Picture,
    state: Redaction,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    manual = state.manual or [dict.fromkeys(BOX_FIELDS, "") for _ in range(MANUAL_ROWS)]
    drawn = [(value, _decode(value)) for value in state.drawn]
    return render(
        request,
        "evidence/redact.html",
        {
            "item": item,
            "picture": picture,
            "state": state,
            "manual": manual,
            "drawn": [(value, describe_box(raw)) for value, raw in drawn if raw is not None],
            "modes": MODES,
            "errors": errors or {},
            "problem": None,
            "viewable": bool(item.preview_sha256) or item.preview_status == "original",
        },
        status,
    )


@router.get("/evidence/items/{item_id}/redact")
def redact_form(request: Request, item_id: str, db: DB, principal: Person) -> Response:
    """The picture with suggested faces ticked, boxes to draw or type, and the mode."""
    item, _ = service.access_item(db, principal, item_id, "edit")
    problem = _not_redactable(item)
    if problem:
        return render(
            request,
            "evidence/redact.html",
            {"item": item, "problem": problem, "errors": {}},
            409,
        )
    picture, suggestions, note = _examine(request.app.state.blobs, item)
    state = Redaction(suggestions=suggestions, ticked={s.value for s in suggestions}, note=note)
    return _page(request, item, picture, state)


def _state_from(form: FormData) -> Redaction:
    suggested = [str(v) for v in form.getlist("suggested")][:200]
    state = Redaction(
        suggestions=[],
        ticked={str(v) for v in form.getlist("face")},
        note=str(form.get("faces_note", ""))[:500],
        manual=[
            {k: str(form.get(f"box-{n}-{k}", "")).strip()[:20] for k in BOX_FIELDS}
            for n in range(1, MANUAL_ROWS + 1)
        ],
        drawn=[str(v) for v in form.getlist("drawn")][:500],
        mode=str(form.get("mode", "")),
    )
    raws = [(value, _decode(value)) for value in suggested]
    state.suggestions = [
        Suggestion(number, value, f"Suggested face {number}: {describe_box(raw)}")
        for number, (value, raw) in enumerate(raws, start=1)
        if raw is not None
    ]
    return state


def _candidates(state: Redaction, errors: dict[str, str]) -> list[Candidate]:
    """Every box asked for: ticked suggestions, typed rows, then boxes drawn on the picture."""
    found = []
    numbers = {s.value: s.number for s in state.suggestions}
    for value in sorted(state.ticked, key=lambda v: numbers.get(v, 10**6)):
        raw = _decode(value)
        number = numbers.get(value)
        if raw is None or number is None:
            errors.setdefault("face-1", "A suggested face could not be read. Tick it again.")
            continue
        found.append(Candidate(f"face-{number}", f"Suggested face {number}", raw))
    for number, row in enumerate(state.manual, start=1):
        if any(row.values()):
            found.append(Candidate(f"box-{number}-x", f"Box {number}", row))
    for number, value in enumerate(state.drawn, start=1):
        raw = _decode(value)
        if raw is None:
            errors.setdefault(f"drawn-{number}", f"Drawn box {number} could not be read")
            continue
        found.append(Candidate(f"drawn-{number}", f"Drawn box {number}", raw))
    return found


def _anchor(candidate: Candidate, named: str) -> str:
    """Where a problem points: a typed row's own field, else the box as a whole."""
    if candidate.anchor.startswith("box-") and named in BOX_FIELDS:
        return f"{candidate.anchor.rsplit('-', 1)[0]}-{named}"
    return candidate.anchor


def _format_problem(raw: dict[str, str]) -> tuple[str, str] | None:
    """The first field of a box that is not a number, as (field, message)."""
    for key in ("x", "y", "width", "height"):
        value = raw.get(key, "")
        if not value:
            return key, f"enter {PIXEL_LABELS[key]} in pixels"
        if not _PIXELS.match(value):
            return key, f"{PIXEL_LABELS[key]} must be a whole number of pixels"
    for key in ("start", "end"):
        value = raw.get(key, "")
        if value and not _SECONDS.match(value):
            return key, f"the {key} must be a number of seconds, like 2.5"
    return None


def _outside(box: media.Box, picture: Picture, kind: str) -> str | None:
    if picture.width and box.x >= picture.width:
        return f"x is {box.x}, outside the picture, which is {picture.width} pixels wide"
    if picture.height and box.y >= picture.height:
        return f"y is {box.y}, outside the picture, which is {picture.height} pixels high"
    start, duration = box.start, picture.duration
    if kind == "video" and start is not None and duration is not None and start >= duration:
        return f"start is {start:g} s, after the clip ends at {duration:g} s"
    return None


def check_boxes(
    candidates: Sequence[Candidate], picture: Picture, kind: str, errors: dict[str, str]
) -> list[media.Box]:
    """The boxes to redact; each problem is added to ``errors`` naming its box and field."""
    boxes = []
    for candidate in candidates:
        raw = dict(candidate.raw)
        if kind != "video":
            raw["start"] = raw["end"] = ""
        problem = _format_problem(raw)
        box = None
        if problem is None:
            try:
                box = processing.parse_boxes([raw], field=candidate.anchor)[0]
            except InvalidInput as exc:
                message = next(iter(exc.errors.values()))
                problem = message.split(" ", 1)[0], message
        if box is not None:
            outside = _outside(box, picture, kind)
            problem = (outside.split(" ", 1)[0], outside) if outside else None
        if problem is not None:
            named, message = problem
            errors.setdefault(_anchor(candidate, named), f"{candidate.label}: {message}")
            continue
        assert box is not None
        boxes.append(box)
    return boxes


@router.post("/evidence/items/{item_id}/redact")
def redact(request: Request, item_id: str, form: CsrfForm, db: DB, principal: Person) -> Response:
    """Check the boxes, then start the job that makes the redacted copy."""
    item, _ = service.access_item(db, principal, item_id, "edit")
    problem = _not_redactable(item)
    if problem:
        return render(
            request,
            "evidence/redact.html",
            {"item": item, "problem": problem, "errors": {}},
            409,
        )
    store: BlobStore = request.app.state.blobs
    state = _state_from(form)
    errors: dict[str, str] = {}
    candidates = _candidates(state, errors)
    if item.capture and item.capture.get("width") and item.capture.get("height"):
        picture = _picture_of(item, None)
    else:
        with processing.local_copy(store, item.sha256, _suffix(item)) as path:
            picture = _picture_of(item, path)
    boxes = check_boxes(candidates, picture, item.kind, errors)
    if not candidates and not errors:
        anchor = "face-1" if state.suggestions else "box-1-x"
        errors[anchor] = "Tick a suggested face, draw a box or enter one to redact"
    elif len(boxes) > 200:
        errors["box-1-x"] = "Redact at most 200 boxes at once"
    if state.mode not in dict(MODES):
        errors["mode"] = "Choose how to hide the boxes: blur or black out"
        state.mode = ""
    if errors:
        return _page(request, item, picture, state, errors, 400)
    db.commit()
    job_id = jobs.submit_redaction(
        request.app.state.jobs, store, principal, item.id, boxes, state.mode, item.name
    )
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
