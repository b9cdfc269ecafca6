"""Synthetic photos and clips for demonstrations and tests, made entirely by this module.

Nothing here shows a real person, place or vehicle. The people are drawn shapes (an oval face
with shading, eyes, eyebrows, nose, mouth and hair, drawn so that the face detector used by
:func:`peel.evidence.media.suggest_faces` finds them), the street and car are drawn with
Pillow, the number plate ``WX19 ABC`` is invented, and the metadata (time, camera "PeelCam
Demo", a location in Hampshire) is made up. Text is drawn with Pillow's built-in font, and
clips are encoded by ffmpeg from those drawings, with a running clock made of filled boxes
(ffmpeg's own text drawing would need a system font).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageFilter, ImageFont, TiffImagePlugin

from peel.evidence.media import MediaError

Colour = tuple[int, int, int]

PHOTO_SIZE = (1024, 768)
CLIP_SIZE = (640, 360)
DEMO_PLATE = "WX19 ABC"
#: When the demo photo and clips say they were taken (UTC).
DEMO_TAKEN_AT = datetime(2026, 3, 14, 21, 37, 5, tzinfo=UTC)
#: Near Winchester, Hampshire; each photo seed moves a little from here.
DEMO_LOCATION = (51.0632, -1.3080)
#: Seconds ffmpeg may take to encode one demo clip.
ENCODE_TIMEOUT = 120

_SKIN_TONES: list[Colour] = [
    (238, 200, 172),
    (222, 172, 138),
    (196, 140, 104),
    (160, 110, 78),
    (118, 80, 56),
]
_HAIR_COLOURS: list[Colour] = [(36, 27, 22), (66, 44, 28), (24, 20, 20), (92, 60, 34)]
_JACKET_COLOURS: list[Colour] = [(40, 50, 70), (70, 70, 75), (90, 40, 40), (50, 80, 60)]
_CAR_COLOURS: list[Colour] = [(160, 24, 30), (30, 60, 130), (118, 118, 124), (30, 100, 60)]

# Which digits light each segment of a seven-segment display, and where the segment sits:
# (left, top, width, height) as fractions of the digit, with thickness added where it is 0.
_SEGMENTS: list[tuple[frozenset[int], tuple[float, float, float, float]]] = [
    (frozenset({0, 2, 3, 5, 6, 7, 8, 9}), (0, 0, 1, 0)),
    (frozenset({0, 4, 5, 6, 8, 9}), (0, 0, 0, 0.5)),
    (frozenset({0, 1, 2, 3, 4, 7, 8, 9}), (1, 0, 0, 0.5)),
    (frozenset({2, 3, 4, 5, 6, 8, 9}), (0, 0.5, 1, 0)),
    (frozenset({0, 2, 6, 8}), (0, 0.5, 0, 0.5)),
    (frozenset({0, 1, 3, 4, 5, 6, 7, 8, 9}), (1, 0.5, 0, 0.5)),
    (frozenset({0, 2, 3, 5, 6, 8, 9}), (0, 1, 1, 0)),
]


@dataclass(frozen=True)
class _Person:
    skin: Colour
    hair: Colour
    jacket: Colour


def _pick(rng: np.random.Generator, colours: list[Colour]) -> Colour:
    return colours[int(rng.integers(len(colours)))]


def _person(rng: np.random.Generator) -> _Person:
    return _Person(_pick(rng, _SKIN_TONES), _pick(rng, _HAIR_COLOURS), _pick(rng, _JACKET_COLOURS))


def _scaled(colour: Colour, factor: float) -> Colour:
    red, green, blue = (max(0, min(255, round(c * factor))) for c in colour)
    return red, green, blue


# --- People ---------------------------------------------------------------------------------


def _draw_person(face_width: int, person: _Person) -> Image.Image:
    """A head and shoulders facing the camera, lit from the upper left, on transparency.

    The picture is 3 face widths wide and 6 high; the centre of the face is 1.5 face widths
    from the left and 1.2 from the top. It is drawn three times larger and shrunk, so that
    edges are smooth.
    """
    w = face_width * 3
    h = round(w * 1.28)
    cx, cy = round(1.5 * w), round(1.2 * w)
    image = Image.new("RGBA", (3 * w, 6 * w), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    skin, hair = person.skin, person.hair
    # Body and collar, neck, hair behind the head, ears, the face, then a fringe.
    draw.rounded_rectangle(
        (cx - 1.25 * w, cy + 0.72 * h, cx + 1.25 * w, 7 * w), radius=w // 2, fill=person.jacket
    )
    collar = [(cx - 0.24 * w, cy + 0.72 * h), (cx + 0.24 * w, cy + 0.72 * h), (cx, cy + 1.0 * h)]
    draw.polygon(collar, fill=_scaled(person.jacket, 0.55))
    draw.rectangle(
        (cx - 0.2 * w, cy + 0.3 * h, cx + 0.2 * w, cy + 0.78 * h), fill=_scaled(skin, 0.8)
    )
    draw.ellipse((cx - 0.58 * w, cy - 0.62 * h, cx + 0.58 * w, cy + 0.15 * h), fill=hair)
    for side in (-1, 1):
        ear_x = cx + side * 0.5 * w
        draw.ellipse(
            (ear_x - 0.07 * w, cy - 0.1 * h, ear_x + 0.07 * w, cy + 0.1 * h),
            fill=_scaled(skin, 0.9),
        )
    draw.ellipse((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), fill=skin)
    draw.chord((cx - 0.5 * w, cy - 0.6 * h, cx + 0.5 * w, cy - 0.12 * h), 180, 360, fill=hair)
    _draw_features(draw, cx, cy, w, h, skin)
    small = image.resize((3 * face_width, 6 * face_width), Image.Resampling.LANCZOS)
    return _shade(small, 0.35, 0.2)


def _draw_features(
    draw: ImageDraw.ImageDraw, cx: int, cy: int, w: int, h: int, skin: Colour
) -> None:
    """Eyes in shadowed sockets under dark eyebrows, a lit nose, and a mouth."""
    eye_y = cy - 0.08 * h
    for side in (-1, 1):
        eye_x = cx + side * 0.2 * w
        socket = (eye_x - 0.15 * w, eye_y - 0.08 * h, eye_x + 0.15 * w, eye_y + 0.06 * h)
        draw.ellipse(socket, fill=_scaled(skin, 0.8))
        white = (eye_x - 0.1 * w, eye_y - 0.03 * h, eye_x + 0.1 * w, eye_y + 0.03 * h)
        draw.ellipse(white, fill=(236, 234, 228))
        iris = (eye_x - 0.045 * w, eye_y - 0.03 * h, eye_x + 0.045 * w, eye_y + 0.03 * h)
        draw.ellipse(iris, fill=(44, 32, 24))
        brow = [(eye_x - 0.12 * w, eye_y - 0.09 * h), (eye_x + 0.12 * w, eye_y - 0.1 * h)]
        draw.line(brow, fill=_scaled(skin, 0.35), width=max(3, round(w * 0.045)))
    nose = [(cx, eye_y), (cx - 0.07 * w, cy + 0.14 * h), (cx + 0.07 * w, cy + 0.14 * h)]
    draw.polygon(nose, fill=_scaled(skin, 1.07))
    nostrils = [(cx - 0.065 * w, cy + 0.15 * h), (cx + 0.065 * w, cy + 0.15 * h)]
    draw.line(nostrils, fill=_scaled(skin, 0.55), width=max(2, round(w * 0.02)))
    mouth = (cx - 0.16 * w, cy + 0.2 * h, cx + 0.16 * w, cy + 0.3 * h)
    draw.chord(mouth, 0, 180, fill=(150, 64, 62))


def _shade(image: Image.Image, light_x: float, light_y: float) -> Image.Image:
    """Light a picture softly from a point given as fractions of its width and height."""
    pixels = np.asarray(image, dtype=np.float32).copy()
    height, width = pixels.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot(xs / width - light_x, ys / height - light_y)
    pixels[..., :3] *= (1.12 - 0.35 * distance)[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), image.mode)


# --- The street -----------------------------------------------------------------------------


def _draw_street(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A brick wall with a shop window, a pavement, and the back of a car with its plate."""
    width, height = size
    image = Image.new("RGB", size, (128, 128, 126))
    draw = ImageDraw.Draw(image)
    ground = round(height * 0.74)
    _draw_bricks(draw, width, ground, rng)
    _draw_shop_window(draw, width, height, ground)
    for x in range(0, width + width // 6, max(40, width // 12)):
        draw.line([(x, ground), (x - width // 30, height)], fill=(112, 112, 110), width=2)
    draw.line([(0, ground), (width, ground)], fill=(95, 95, 92), width=3)
    _draw_car(draw, width, height, ground, _pick(rng, _CAR_COLOURS))
    return image


def _draw_bricks(
    draw: ImageDraw.ImageDraw, width: int, bottom: int, rng: np.random.Generator
) -> None:
    brick_width, brick_height = max(16, width // 20), max(6, width // 60)
    draw.rectangle((0, 0, width, bottom), fill=(182, 176, 166))
    for row, y in enumerate(range(0, bottom, brick_height)):
        offset = (row % 2) * brick_width // 2
        for x in range(-offset, width, brick_width):
            colour = _scaled((146, 72, 52), float(rng.uniform(0.8, 1.08)))
            draw.rectangle((x + 1, y + 1, x + brick_width - 2, y + brick_height - 2), fill=colour)


def _draw_shop_window(draw: ImageDraw.ImageDraw, width: int, height: int, ground: int) -> None:
    left, right, top = round(width * 0.04), round(width * 0.34), round(height * 0.2)
    sign = max(16, round(height * 0.06))
    draw.rectangle((left - 6, top - sign, right + 6, ground), fill=(44, 56, 48))
    draw.rectangle((left, top, right, ground - 10), fill=(66, 84, 96))
    for band in range(0, right - left - 60, 24):
        reflection = [(left + band, ground - 10), (left + band + 60, top)]
        draw.line(reflection, fill=(84, 104, 116), width=6)
    font = ImageFont.load_default(size=max(9, round(sign * 0.6)))
    draw.text((left + 8, top - sign * 0.8), "PEEL STREET STORES", font=font, fill=(232, 220, 180))


def _draw_car(
    draw: ImageDraw.ImageDraw, width: int, height: int, ground: int, colour: Colour
) -> None:
    """The back of a hatchback: roof and rear window, body, lights, bumper, tyres and plate."""
    left, right = round(width * 0.68), round(width * 0.97)
    car = right - left
    body_top, body_bottom = round(ground - height * 0.16), round(ground + height * 0.1)
    roof = round(body_top - height * 0.13)
    cabin = [(left + car * 0.12, body_top), (left + car * 0.2, roof), (right - car * 0.2, roof)]
    draw.polygon([*cabin, (right - car * 0.12, body_top)], fill=colour)
    window = [(left + car * 0.18, body_top - 4), (left + car * 0.24, roof + 6)]
    window += [(right - car * 0.24, roof + 6), (right - car * 0.18, body_top - 4)]
    draw.polygon(window, fill=(52, 62, 74))
    tyre = round(height * 0.05)
    for x in (left + car * 0.04, right - car * 0.04 - tyre * 1.6):
        draw.rounded_rectangle(
            (x, body_bottom - tyre, x + tyre * 1.6, body_bottom + tyre), 6, (22, 22, 22)
        )
    draw.rounded_rectangle((left, body_top, right, body_bottom), radius=car // 12, fill=colour)
    for x in (left + car * 0.03, right - car * 0.15):
        draw.rectangle(
            (x, body_top + 8, x + car * 0.12, body_top + 8 + height * 0.035), fill=(200, 30, 30)
        )
    draw.rectangle(
        (left + 4, body_bottom - height * 0.035, right - 4, body_bottom), fill=(36, 36, 38)
    )
    _draw_plate(draw, (left + right) // 2, round(body_top + (body_bottom - body_top) * 0.5), height)


def _draw_plate(draw: ImageDraw.ImageDraw, centre_x: int, centre_y: int, height: int) -> None:
    """A yellow rear plate in the current UK style: area letters, age identifier, letters."""
    font = ImageFont.load_default(size=max(9, round(height / 26)))
    left, top, right, bottom = (round(edge) for edge in font.getbbox(DEMO_PLATE))
    plate_w, plate_h = right - left + 16, bottom - top + 10
    x, y = centre_x - plate_w // 2, centre_y - plate_h // 2
    draw.rectangle((x, y, x + plate_w, y + plate_h), fill=(246, 200, 20), outline=(20, 20, 20))
    draw.text((x + 8 - left, y + 5 - top), DEMO_PLATE, font=font, fill=(12, 12, 12))


def _finish(image: Image.Image, rng: np.random.Generator, grain: float = 3.0) -> Image.Image:
    """Light the scene, soften it like a lens and add sensor grain."""
    image = _shade(image, 0.2, 0.1).filter(ImageFilter.GaussianBlur(1.2))
    grainy = np.asarray(image, dtype=np.float64) + rng.normal(
        0, grain, (image.height, image.width, 1)
    )
    return Image.fromarray(np.clip(grainy, 0, 255).astype(np.uint8), "RGB")


# --- Photo ----------------------------------------------------------------------------------


def _face_photo(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    scene = _draw_street(PHOTO_SIZE, rng)
    face_width = int(rng.integers(120, 170))
    person = _draw_person(face_width, _person(rng))
    centre_x = int(rng.integers(round(PHOTO_SIZE[0] * 0.25), round(PHOTO_SIZE[0] * 0.42)))
    centre_y = int(rng.integers(round(PHOTO_SIZE[1] * 0.3), round(PHOTO_SIZE[1] * 0.42)))
    scene.paste(
        person, (centre_x - round(1.5 * face_width), centre_y - round(1.2 * face_width)), person
    )
    return _finish(scene, rng)


def _photo_exif(seed: int, with_gps: bool) -> Image.Exif:
    rng = np.random.default_rng([seed, 1])
    taken = DEMO_TAKEN_AT + timedelta(minutes=int(rng.integers(0, 600)))
    exif = Image.Exif()
    exif[0x010F] = "PeelCam"
    exif[0x0110] = "Demo"
    exif[0x0131] = "Peel demo media (synthetic)"
    exif[ExifTags.IFD.Exif] = {0x9003: taken.strftime("%Y:%m:%d %H:%M:%S"), 0x9011: "+00:00"}
    if with_gps:
        latitude = DEMO_LOCATION[0] + float(rng.uniform(-0.02, 0.02))
        longitude = DEMO_LOCATION[1] + float(rng.uniform(-0.02, 0.02))
        exif[ExifTags.IFD.GPSInfo] = {
            1: "N" if latitude >= 0 else "S",
            2: _degrees_minutes_seconds(abs(latitude)),
            3: "E" if longitude >= 0 else "W",
            4: _degrees_minutes_seconds(abs(longitude)),
        }
    return exif


def _degrees_minutes_seconds(value: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    degrees = math.floor(value)
    minutes = math.floor((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600 * 10000)
    rational = TiffImagePlugin.IFDRational
    return rational(degrees, 1), rational(minutes, 1), rational(seconds, 10000)


def make_face_photo(out: Path, seed: int = 0, with_gps: bool = True) -> None:
    """Write a synthetic 1024x768 JPEG street photo with a person, a shop and a car (WX19 ABC).

    Its EXIF says it was taken by a "PeelCam Demo" camera on a made-up date in March 2026 and,
    when ``with_gps``, near Winchester in Hampshire. Different seeds move and recolour things.
    """
    image = _face_photo(seed)
    image.save(Path(out), "JPEG", quality=90, exif=_photo_exif(seed, with_gps).tobytes())


# --- Clips ----------------------------------------------------------------------------------


def _thickness(digit_height: int) -> int:
    return max(2, digit_height // 8)


def _clock_filters(left: int, top: int, digit_height: int, started: datetime) -> list[str]:
    """ffmpeg drawbox filters showing a running HH:MM:SS clock that starts at ``started``."""
    digit_width, thickness = digit_height // 2, _thickness(digit_height)
    now = f"floor({started.hour * 3600 + started.minute * 60 + started.second}+t)"
    parts = [f"mod(floor({now}/3600),24)", f"mod(floor({now}/60),60)", f"mod({now},60)"]
    digits = [d for part in parts for d in (f"floor({part}/10)", f"mod({part},10)")]
    filters = []
    x = left
    for index, digit in enumerate(digits):
        for lit_for, (sx, sy, sw, sh) in _SEGMENTS:
            mask = sum(1 << d for d in lit_for)
            box_x = x + round(sx * (digit_width - thickness))
            box_y = top + round(sy * (digit_height - thickness))
            box_w = round(sw * digit_width) or thickness
            box_h = round(sh * digit_height) or thickness
            enable = f"mod(floor({mask}/pow(2,{digit})),2)"
            filters.append(
                f"drawbox=x={box_x}:y={box_y}:w={box_w}:h={box_h}"
                f":color=white:t=fill:enable='{enable}'"
            )
        x += digit_width + thickness * 2
        if index in (1, 3):  # a colon between hours, minutes and seconds
            for dot_y in (top + digit_height // 4, top + 3 * digit_height // 4 - thickness):
                filters.append(
                    f"drawbox=x={x}:y={dot_y}:w={thickness}:h={thickness}:color=white:t=fill"
                )
            x += thickness * 3
    return filters


def _caption(
    image: Image.Image, text: str, at: tuple[int, int], digit_height: int, started: datetime
) -> list[str]:
    """Draw white text on a black strip, and return the filters for a clock at its end."""
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, round(digit_height * 0.8)))
    left, top, right, bottom = (round(edge) for edge in draw.textbbox(at, text, font=font))
    clock_left, clock_top = right + 14, (top + bottom - digit_height) // 2
    clock_width = 6 * (digit_height // 2) + 16 * _thickness(digit_height)  # see _clock_filters
    strip = (left - 6, clock_top - 5, clock_left + clock_width + 6, clock_top + digit_height + 5)
    draw.rectangle(strip, fill=(0, 0, 0))
    draw.text(at, text, font=font, fill=(255, 255, 255))
    return _clock_filters(clock_left, clock_top, digit_height, started)


def _ffmpeg(args: list[str], out: Path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise MediaError(f"cannot make {out.name}: ffmpeg is not installed (Debian's ffmpeg)")
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        done = subprocess.run(  # noqa: S603 - resolved binary, list arguments, no shell
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=ENCODE_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        raise MediaError(f"ffmpeg took over {ENCODE_TIMEOUT} s to make {out.name}") from error
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no reason given"]
        raise MediaError(f"ffmpeg could not make {out.name}: {reason[-1]}")


def _check_seconds(seconds: float) -> float:
    if not 0.5 <= seconds <= 120:
        raise ValueError(f"seconds must be between 0.5 and 120, not {seconds}")
    return float(seconds)


def make_cctv_clip(
    out: Path,
    seconds: float = 6,
    with_face: bool = True,
    playable: bool = True,
    started: datetime = DEMO_TAKEN_AT,
) -> None:
    """Write a synthetic 640x360, 15 frames a second "CCTV" clip of the street.

    A person walks across (unless ``with_face`` is false) under a burned-in camera name, date
    and running clock. ``playable`` gives H.264 in MP4 with a ``creation_time`` tag, as
    browsers play; otherwise MPEG-4 Part 2 in AVI, as older CCTV systems export and browsers
    cannot play. The MP4 is written as cameras do, with its index at the end. ``started``
    should be timezone-aware; the burned-in clock shows it as given.
    """
    seconds = _check_seconds(seconds)
    out = Path(out)
    rng = np.random.default_rng(7)
    scene = _finish(_draw_street(CLIP_SIZE, rng), rng, grain=4.0)
    scene = Image.blend(scene, scene.convert("L").convert("RGB"), 0.6)  # washed-out CCTV colour
    clock = _caption(scene, f"CAM 03  {started:%d/%m/%Y}", (12, 12), 18, started)
    with tempfile.TemporaryDirectory(prefix="peel-demo-") as folder:
        still = Path(folder) / "scene.png"
        scene.save(still)
        args = _looped(still, seconds, 15)
        if with_face:
            person = _draw_person(72, _person(np.random.default_rng(3)))
            sprite = Path(folder) / "person.png"
            person.save(sprite)
            args += _looped(sprite, seconds, 15)
            graph = f"[0:v][1:v]overlay=x='20+{300 / seconds:.3f}*t':y=72:shortest=1,"
        else:
            graph = "[0:v]"
        graph += ",".join([*clock, "format=yuv420p"]) + "[v]"
        args += ["-filter_complex", graph, "-map", "[v]", "-t", f"{seconds:.3f}"]
        if playable:
            args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-f", "mp4"]
        else:
            args += ["-c:v", "mpeg4", "-q:v", "3", "-f", "avi"]
        _ffmpeg([*args, "-metadata", f"creation_time={_iso(started)}", str(out)], out)


def make_bwv_clip(
    out: Path,
    seconds: float = 4,
    device_id: str = "BWV-0001",
    started: datetime = DEMO_TAKEN_AT,
) -> None:
    """Write a synthetic 640x360 body-worn video clip: H.264 and AAC in MP4.

    The camera sways as its wearer walks, facing a person, with street noise on the sound
    track; the device and a running clock are burned in, and the file carries a
    ``creation_time`` tag and a comment naming the device, as body-worn cameras record.
    ``started`` should be timezone-aware; the burned-in clock shows it as given.
    """
    seconds = _check_seconds(seconds)
    if not device_id.isprintable() or not 0 < len(device_id) <= 40:
        raise ValueError("device_id must be 1 to 40 printable characters")
    out = Path(out)
    rng = np.random.default_rng(11)
    scene = _draw_street((CLIP_SIZE[0] + 64, CLIP_SIZE[1] + 40), rng)
    person = _draw_person(80, _person(np.random.default_rng(5)))
    scene.paste(person, (150, 60), person)
    scene = _finish(scene, rng)
    banner = Image.new("RGBA", CLIP_SIZE, (0, 0, 0, 0))
    clock = _caption(
        banner, f"{device_id}  {started:%Y-%m-%d}", (12, CLIP_SIZE[1] - 30), 18, started
    )
    sway = "crop=640:360:x='32+24*sin(2*PI*0.7*t)':y='20+14*sin(2*PI*1.3*t)'"
    with tempfile.TemporaryDirectory(prefix="peel-demo-") as folder:
        still, overlay = Path(folder) / "scene.png", Path(folder) / "banner.png"
        scene.save(still)
        banner.save(overlay)
        graph = f"[0:v]{sway}[s];[s][1:v]overlay=0:0:shortest=1," + ",".join(clock)
        graph += f",format=yuv420p[v];anoisesrc=color=pink:amplitude=0.04:duration={seconds:.3f}"
        graph += ":sample_rate=48000[a]"
        args = [*_looped(still, seconds, 25), *_looped(overlay, seconds, 25)]
        args += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-t", f"{seconds:.3f}"]
        args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "22", "-c:a", "aac"]
        args += ["-metadata", f"creation_time={_iso(started)}"]
        args += ["-metadata", f"comment=Synthetic body-worn video from {device_id}"]
        _ffmpeg([*args, "-f", "mp4", str(out)], out)


def _looped(still: Path, seconds: float, frame_rate: int) -> list[str]:
    return ["-loop", "1", "-framerate", str(frame_rate), "-t", f"{seconds:.3f}", "-i", str(still)]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
