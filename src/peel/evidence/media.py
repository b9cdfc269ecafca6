"""Everything Peel does to evidence files: read, preview, redact and watermark, never the original.

ACPO principle 1 says no action should change data that may be relied on in court, so every
function here reads the original and writes a *new* file (refusing to write over its input);
outputs appear atomically under their final name only once complete. Videos may be several
gigabytes, so they are only ever streamed through ffmpeg and ffprobe (Debian's packages, run
with list arguments, no shell and a time limit); photos are small enough to load with Pillow.

Coordinates are always those of the picture as a person sees it: after the EXIF orientation of
a photo, and after the rotation a phone records in a video. A tool that is missing, a file that
cannot be read or a process that fails raises :class:`MediaError`, whose message names the file
and says what went wrong in plain English.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import operator
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Progress = Callable[[float], None]
RedactionMode = Literal["blur", "black"]

#: Seconds allowed for ffprobe, and for ffmpeg to pull a single frame out of a video.
PROBE_TIMEOUT = 60
FRAME_TIMEOUT = 120
#: Re-encoding may take this many seconds per second of video (and never less than the minimum)
#: before it is stopped: generous, because a long body-worn video on a busy server is slow.
ENCODE_SECONDS_PER_SECOND = 20
MIN_ENCODE_TIMEOUT = 600
#: Previews are at most this wide; redacted and watermarked copies keep the original size.
PREVIEW_MAX_WIDTH = 1280
#: Blurred areas are pixelated to about this many blocks along their longer side first.
BLUR_BLOCKS = 8
#: Each side of a detected face is pushed out by this fraction so hair, chin and ears are covered.
FACE_PADDING = 0.15
#: Photos and frames are shrunk to at most this many pixels on a side before face detection.
DETECTION_MAX_SIDE = 1600
FACE_CASCADE = "haarcascade_frontalface_default.xml"

_H264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
_AAC = ["-c:a", "aac", "-b:a", "128k"]
# Outputs are new works: they carry none of the original's tags (which can hold a location),
# chapters, subtitles or data tracks, and start playing before they have fully downloaded.
_MP4_OUTPUT = ["-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart", "-f", "mp4"]

# What each browser-supported container can play (Chrome, Firefox, Safari and Edge alike).
_PLAYABLE_VIDEO: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "mp4": (frozenset({"h264", "vp9", "av1"}), frozenset({"aac", "mp3", "opus"})),
    "webm": (frozenset({"vp8", "vp9", "av1"}), frozenset({"opus", "vorbis"})),
}
_PLAYABLE_AUDIO: dict[str, frozenset[str]] = {
    "mp4": frozenset({"aac", "mp3", "opus", "flac"}),
    "webm": frozenset({"opus", "vorbis"}),
    "ogg": frozenset({"opus", "vorbis", "flac"}),
    "mp3": frozenset({"mp3"}),
    "wav": frozenset({"pcm_s16le", "pcm_u8", "pcm_f32le"}),
    "flac": frozenset({"flac"}),
    "aac": frozenset({"aac"}),
}
_PLAYABLE_PIXEL_FORMATS = frozenset({"yuv420p", "yuvj420p"})
# ffprobe recognises almost any bytes as "binary text" art, and reads photos (as image2 or
# *_pipe formats); neither is a video.
_NOT_MOVING_PICTURES = frozenset({"bin", "xbin", "idf", "adf", "tty", "image2"})

# EXIF tags a redacted or watermarked photo keeps: when and with what it was taken. Where (GPS),
# who (artist, owner), serial numbers, maker notes, XMP, IPTC and the embedded thumbnail (which
# would show what was redacted) are all dropped.
_KEPT_IMAGE_TAGS = frozenset({0x010F, 0x0110, 0x0131, 0x0132})
_KEPT_EXIF_TAGS = frozenset(
    {0x829A, 0x829D, 0x8827, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9291, 0x920A}
)
_EXIF_MAKE, _EXIF_MODEL, _EXIF_ORIENTATION = 0x010F, 0x0110, 0x0112
_EXIF_DATETIME_ORIGINAL, _EXIF_OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_ASCII_PUNCTUATION = str.maketrans(
    {"\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}
    | {"\u2022": "*", "\u2026": "...", "\u00a0": " "}
)
_TOOL_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")


class MediaError(Exception):
    """A media file could not be read or processed; the message names the file and says why."""


def ffmpeg_available() -> bool:
    """Whether both ffmpeg and ffprobe are installed, so videos can be handled at all."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def sha256_file(path: Path) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks so any size fits in memory."""
    with Path(path).open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


# --- Running ffmpeg and ffprobe -------------------------------------------------------------


def _tool(name: str, path: Path) -> str:
    found = shutil.which(name)
    if found is None:
        raise MediaError(
            f"cannot process {path.name}: {name} is not installed (install Debian's ffmpeg package)"
        )
    return found


def _problem(stderr: bytes, path: Path) -> str:
    """The first thing ffmpeg complained about, without its internal prefixes or our paths."""
    for raw in stderr.decode("utf-8", "replace").splitlines():
        line = _TOOL_PREFIX.sub("", raw.strip()).replace(str(path), path.name)
        if line:
            return line[:300]
    return "no reason given"


def _ffprobe(path: Path, kind: str) -> dict[str, Any]:
    noun = "a sound recording" if kind == "audio" else "a video"
    command = [_tool("ffprobe", path), "-hide_banner", "-loglevel", "error"]
    command += ["-print_format", "json", "-show_format", "-show_streams", str(path)]
    try:
        done = subprocess.run(  # noqa: S603 - resolved binary, list arguments, no shell
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT
        )
    except subprocess.TimeoutExpired as error:
        raise MediaError(f"ffprobe took over {PROBE_TIMEOUT} s to read {path.name}") from error
    if done.returncode != 0:
        reason = _problem(done.stderr, path)
        raise MediaError(
            f"ffprobe could not read {path.name}: it may be damaged or not {noun} ({reason})"
        )
    try:
        data = json.loads(done.stdout)
    except ValueError as error:
        raise MediaError(f"ffprobe gave no readable description of {path.name}") from error
    return data if isinstance(data, dict) else {}


def _ffmpeg(path: Path, args: Sequence[str], timeout: float, doing: str) -> None:
    """Run ffmpeg to completion (for short jobs such as pulling out one frame)."""
    command = [_tool("ffmpeg", path), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    try:
        done = subprocess.run(  # noqa: S603 - resolved binary, list arguments, no shell
            [*command, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as error:
        raise MediaError(f"ffmpeg took over {timeout:.0f} s to {doing} {path.name}") from error
    if done.returncode != 0:
        raise MediaError(f"ffmpeg could not {doing} {path.name}: {_problem(done.stderr, path)}")


def _encode(
    path: Path, args: Sequence[str], duration: float | None, progress: Progress | None, doing: str
) -> None:
    """Run a long ffmpeg job, reporting progress (0 to 1) and stopping it if it runs too long.

    If ``progress`` raises, ffmpeg is stopped and the exception propagates: that is how a
    caller cancels.
    """
    command = [_tool("ffmpeg", path), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    command += ["-nostats", "-progress", "pipe:1", *args]
    timeout = max(MIN_ENCODE_TIMEOUT, ENCODE_SECONDS_PER_SECOND * (duration or 0))
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - resolved binary, list arguments, no shell
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True
        )

        def stop() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout, stop)
        timer.start()
        try:
            _follow_progress(process.stdout, duration, progress)
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        if timed_out.is_set():
            raise MediaError(f"ffmpeg took over {timeout:.0f} s to {doing} {path.name}")
        if returncode != 0:
            errors.seek(0)
            raise MediaError(
                f"ffmpeg could not {doing} {path.name}: {_problem(errors.read(), path)}"
            )
    if progress is not None:
        progress(1.0)


def _follow_progress(
    stream: IO[str] | None, duration: float | None, progress: Progress | None
) -> None:
    if stream is None:
        return
    for line in stream:
        key, _, value = line.strip().partition("=")
        if progress is None or not duration or key != "out_time_us":
            continue
        with contextlib.suppress(ValueError):
            progress(min(0.999, max(0.0, int(value) / 1e6 / duration)))


@contextlib.contextmanager
def _writing(source: Path, out: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``out``; it becomes ``out`` only if the block succeeds."""
    if out.resolve() == source.resolve():
        raise ValueError(f"refusing to write over the original {source.name}: choose another out")
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")
    try:
        yield partial
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


# --- Metadata -------------------------------------------------------------------------------


def probe(path: Path, kind: str) -> dict[str, Any]:
    """Describe a photo, video or sound recording as a JSON-safe dict; unknown fields are left out.

    Photos (``kind="image"``): width and height as displayed, format, and from EXIF the
    ``captured_at`` time (ISO 8601, with the camera's UTC offset only if it recorded one),
    ``camera_make``, ``camera_model``, ``gps_latitude``/``gps_longitude`` (decimal degrees)
    and ``orientation``. Videos and recordings: ``duration_seconds``, ``container``,
    ``video_codec``, width and height as displayed, ``frame_rate``, ``pixel_format``,
    ``rotation``, ``audio_codec``, ``audio_channels``, ``audio_sample_rate``,
    ``creation_time`` and ``browser_playable``.
    """
    path = Path(path)
    if kind == "image":
        return _probe_image(path)
    if kind in ("video", "audio"):
        return _probe_av(path, kind)
    raise ValueError(f"kind must be 'image', 'video' or 'audio', not {kind!r}")


@contextlib.contextmanager
def _open_image(path: Path, draft_size: int | None = None) -> Iterator[Image.Image]:
    """Open and decode a photo (a JPEG at a reduced scale if it is far larger than needed)."""
    try:
        with Image.open(path) as image:
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            yield image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError(
            f"could not read {path.name}: it may be damaged or not a photo ({error})"
        ) from error


def _probe_image(path: Path) -> dict[str, Any]:
    with _open_image(path) as image:
        width, height = image.size
        info: dict[str, Any] = {"format": (image.format or "unknown").lower()}
        # Unreadable EXIF is treated as no EXIF.
        with contextlib.suppress(OSError, SyntaxError, ValueError, TypeError, KeyError):
            info.update(_exif_fields(image.getexif()))
    if info.get("orientation") in (5, 6, 7, 8):
        width, height = height, width
    return {"width": width, "height": height, **info}


def _exif_fields(exif: Image.Exif) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for tag, name in ((_EXIF_MAKE, "camera_make"), (_EXIF_MODEL, "camera_model")):
        if text := _exif_text(exif.get(tag)):
            fields[name] = text
    orientation = exif.get(_EXIF_ORIENTATION)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        fields["orientation"] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    taken = _exif_time(
        details.get(_EXIF_DATETIME_ORIGINAL), details.get(_EXIF_OFFSET_TIME_ORIGINAL)
    )
    if taken is not None:
        fields["captured_at"] = taken
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    latitude = _gps_degrees(gps.get(2), gps.get(1), "N", "S", 90)
    longitude = _gps_degrees(gps.get(4), gps.get(3), "E", "W", 180)
    if latitude is not None and longitude is not None:
        fields["gps_latitude"], fields["gps_longitude"] = latitude, longitude
    return fields


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ").strip() or None


def _exif_time(value: object, offset: object) -> str | None:
    text = _exif_text(value)
    if text is None:
        return None
    try:
        taken = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    match = _OFFSET.fullmatch(_exif_text(offset) or "")
    if match:
        sign = -1 if match[1] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
        taken = taken.replace(tzinfo=zone)
    return taken.isoformat()


def _gps_degrees(
    value: object, reference: object, positive: str, negative: str, limit: float
) -> float | None:
    ref = _exif_text(reference)
    if ref not in (positive, negative) or not isinstance(value, tuple) or len(value) != 3:
        return None
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    total = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(total) or total > limit:
        return None
    return round(-total if ref == negative else total, 7)


def _probe_av(path: Path, kind: str) -> dict[str, Any]:
    data = _ffprobe(path, kind)
    container = data.get("format") or {}
    streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
    video = next((s for s in streams if _is_moving_picture(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    format_name = str(container.get("format_name") or "")
    durations = [_number(container.get("duration"))] + [_number(s.get("duration")) for s in streams]
    duration = max((d for d in durations if d is not None and d > 0), default=None)
    wanted = video if kind == "video" else audio
    still = format_name in _NOT_MOVING_PICTURES or format_name.endswith("_pipe")
    if wanted is None or duration is None or still:
        noun = "a sound recording" if kind == "audio" else "a video"
        raise MediaError(
            f"ffprobe could not read {path.name}: it may be damaged or not {noun} "
            f"(no {'audio' if kind == 'audio' else 'video'} with a length was found)"
        )
    info: dict[str, Any] = {"duration_seconds": round(duration, 3), "container": format_name}
    if video is not None:
        info.update(_video_fields(video))
    if audio is not None:
        info.update(_audio_fields(audio))
    tags = {**(video or {}).get("tags", {}), **container.get("tags", {})}
    if created := _creation_time(tags.get("creation_time")):
        info["creation_time"] = created
    info["browser_playable"] = _browser_playable(kind, format_name, video, audio)
    return info


def _is_moving_picture(stream: dict[str, Any]) -> bool:
    disposition = stream.get("disposition") or {}
    return stream.get("codec_type") == "video" and not disposition.get("attached_pic")


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _video_fields(stream: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if codec := stream.get("codec_name"):
        fields["video_codec"] = codec
    width, height = stream.get("width"), stream.get("height")
    rotation = _rotation(stream)
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        swap = rotation in (90, 270)
        fields["width"], fields["height"] = (height, width) if swap else (width, height)
    if rotation:
        fields["rotation"] = rotation
    for key in ("avg_frame_rate", "r_frame_rate"):
        with contextlib.suppress(ValueError, ZeroDivisionError):
            rate = Fraction(str(stream.get(key)))
            if rate > 0:
                fields["frame_rate"] = round(float(rate), 3)
                break
    if pixel_format := stream.get("pix_fmt"):
        fields["pixel_format"] = pixel_format
    return fields


def _rotation(stream: dict[str, Any]) -> int:
    """Degrees the picture is turned for display (0, 90, 180 or 270)."""
    values = [side.get("rotation") for side in stream.get("side_data_list") or []]
    values.append((stream.get("tags") or {}).get("rotate"))
    for value in values:
        number = _number(value)
        if number is not None:
            return round(number) % 360
    return 0


def _audio_fields(stream: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if codec := stream.get("codec_name"):
        fields["audio_codec"] = codec
    if isinstance(stream.get("channels"), int):
        fields["audio_channels"] = stream["channels"]
    rate = _number(stream.get("sample_rate"))
    if rate:
        fields["audio_sample_rate"] = int(rate)
    return fields


def _creation_time(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return value.strip()  # kept exactly as recorded rather than guessed at


def _container_family(format_name: str) -> str | None:
    names = set(format_name.split(","))
    if "mp4" in names:
        return "mp4"
    return next((family for family in _PLAYABLE_AUDIO if family in names), None)


def _browser_playable(
    kind: str, format_name: str, video: dict[str, Any] | None, audio: dict[str, Any] | None
) -> bool:
    family = _container_family(format_name)
    audio_codec = (audio or {}).get("codec_name")
    if kind == "audio":
        return family is not None and audio_codec in _PLAYABLE_AUDIO[family]
    if family not in _PLAYABLE_VIDEO or video is None:
        return False
    video_codecs, audio_codecs = _PLAYABLE_VIDEO[family]
    return (
        video.get("codec_name") in video_codecs
        and video.get("pix_fmt") in _PLAYABLE_PIXEL_FORMATS
        and (audio is None or audio_codec in audio_codecs)
    )


def _video_size(path: Path, info: dict[str, Any]) -> tuple[int, int]:
    width, height = info.get("width"), info.get("height")
    if not isinstance(width, int) or not isinstance(height, int):
        raise MediaError(f"ffprobe could not find the picture size of {path.name}")
    return width, height


# --- Thumbnails and previews ----------------------------------------------------------------


def thumbnail(path: Path, kind: str, out: Path, max_size: int = 320) -> None:
    """Write a JPEG at most ``max_size`` pixels on a side: a photo upright, or a video's poster.

    A video's poster frame is taken a tenth of the way in (or at 1 s if its length is unknown).
    """
    path, out = Path(path), Path(out)
    if max_size < 16:
        raise ValueError(f"max_size must be at least 16 pixels, not {max_size}")
    if kind == "image":
        _image_thumbnail(path, out, max_size)
    elif kind == "video":
        _video_poster(path, out, max_size)
    else:
        raise ValueError(f"thumbnails are made for kind 'image' or 'video', not {kind!r}")


def _image_thumbnail(path: Path, out: Path, max_size: int) -> None:
    with _open_image(path, draft_size=max_size * 2) as image:
        picture = _upright_rgb(image)
    picture.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    with _writing(path, out) as partial:
        picture.save(partial, "JPEG", quality=85)


def _upright_rgb(image: Image.Image) -> Image.Image:
    """The picture as a person sees it (EXIF orientation applied), in RGB with no metadata."""
    upright = ImageOps.exif_transpose(image)
    if upright.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(upright, dtype=np.float64)
        upright = Image.fromarray(np.uint8(np.clip(values * 255 / max(1.0, values.max()), 0, 255)))
    if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        upright = Image.alpha_composite(flat, rgba)
    rgb = upright.convert("RGB")
    rgb.info = {}
    return rgb


def _video_poster(path: Path, out: Path, max_size: int) -> None:
    info = probe(path, "video")
    duration = info.get("duration_seconds")
    at = duration / 10 if duration else 1.0
    scale = f"scale={max_size}:{max_size}:force_original_aspect_ratio=decrease"
    with _writing(path, out) as partial:
        for seek in (at, 0.0):
            _extract_frames(path, [seek], [partial], ["-vf", scale, "-c:v", "mjpeg", "-q:v", "3"])
            if partial.exists() and partial.stat().st_size > 0:
                return
        raise MediaError(f"ffmpeg found no picture to use as a poster in {path.name}")


def _extract_frames(
    path: Path, times: Sequence[float], outs: Sequence[Path], options: Sequence[str]
) -> None:
    """Save the frame at each time to the matching path, seeking to each, in one ffmpeg run.

    A time past the last frame leaves its file missing or empty rather than failing.
    """
    inputs: list[str] = []
    outputs: list[str] = []
    for number, (at, out) in enumerate(zip(times, outs, strict=True)):
        inputs += ["-ss", f"{at:.3f}", "-i", str(path)]
        outputs += ["-map", f"{number}:v:0", "-frames:v", "1", *options]
        outputs += ["-f", "image2", "-update", "1", str(out)]
    timeout = FRAME_TIMEOUT * (1 + len(times) / 4)
    _ffmpeg(path, [*inputs, *outputs], timeout, "read frames of")


def transcode_preview(path: Path, out: Path, progress: Progress | None = None) -> None:
    """Write a browser-playable MP4 copy (H.264 at most 1280 wide, AAC) for viewing in Peel."""
    path, out = Path(path), Path(out)
    info = probe(path, "video")
    scale = f"scale='trunc(min({PREVIEW_MAX_WIDTH},iw)/2)*2':-2,format=yuv420p"
    with _writing(path, out) as partial:
        args = ["-i", str(path), "-map", "0:v:0", "-map", "0:a:0?", "-vf", scale]
        args += [*_H264, *_AAC, *_MP4_OUTPUT, str(partial)]
        _encode(path, args, info.get("duration_seconds"), progress, "make a preview of")


# --- Redaction ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """An area to redact, in pixels of the picture as displayed; for video, from start to end.

    ``start`` and ``end`` are seconds from the beginning of the clip; ``None`` means from the
    beginning or to the end. Photos ignore them.
    """

    x: int
    y: int
    width: int
    height: int
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        for name, least in (("x", 0), ("y", 0), ("width", 1), ("height", 1)):
            object.__setattr__(self, name, _pixels(name, getattr(self, name), least))
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number of seconds, not {value!r}")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be 0 seconds or later, not {value!r}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end} s) must be after start ({self.start} s)")

    def clamped(self, frame_width: int, frame_height: int) -> Box:
        """This box cut down to a frame of the given size; ValueError if it lies wholly outside."""
        if self.x >= frame_width:
            raise ValueError(f"x is {self.x}, outside the frame, which is {frame_width} wide")
        if self.y >= frame_height:
            raise ValueError(f"y is {self.y}, outside the frame, which is {frame_height} high")
        width = min(self.width, frame_width - self.x)
        height = min(self.height, frame_height - self.y)
        return replace(self, width=width, height=height)


def _pixels(name: str, value: object, least: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number of pixels, not {value!r}")
    try:
        pixels = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a whole number of pixels, not {value!r}") from None
    if pixels < least:
        wanted = "must not be negative" if least == 0 else f"must be at least {least} pixel"
        raise ValueError(f"{name} {wanted}, but is {pixels}")
    return pixels


def _check_mode(mode: str) -> None:
    if mode not in ("blur", "black"):
        raise ValueError(f"mode must be 'blur' or 'black', not {mode!r}")


def _blur_blocks(width: int, height: int) -> tuple[int, int]:
    """How many pixelation blocks go across and down a box of this size."""
    longest = max(width, height)
    return (
        max(1, min(width, round(BLUR_BLOCKS * width / longest))),
        max(1, min(height, round(BLUR_BLOCKS * height / longest))),
    )


def _obscure(region: Image.Image, mode: RedactionMode) -> Image.Image:
    if mode == "black":
        return Image.new("RGB", region.size, (0, 0, 0))
    blocks = region.resize(_blur_blocks(*region.size), Image.Resampling.BOX)
    pixelated = blocks.resize(region.size, Image.Resampling.NEAREST)
    radius = max(region.size) / BLUR_BLOCKS / 2
    return pixelated.filter(ImageFilter.GaussianBlur(radius))


def redact_image(path: Path, out: Path, boxes: Sequence[Box], mode: RedactionMode) -> None:
    """Write a copy of a photo with each box blurred beyond recognition or blacked out.

    The copy is upright (EXIF orientation applied; boxes are in those coordinates), PNG or
    JPEG by ``out``'s extension, and keeps only EXIF saying when and with what it was taken.
    """
    path, out = Path(path), Path(out)
    _check_mode(mode)
    save_format = _image_format(out)
    with _open_image(path) as image:
        exif = _exif_without_location(image)
        icc_profile = image.info.get("icc_profile")
        picture = _upright_rgb(image)
    for box in boxes:
        box = box.clamped(*picture.size)
        area = (box.x, box.y, box.x + box.width, box.y + box.height)
        picture.paste(_obscure(picture.crop(area), mode), area[:2])
    _save_image(path, picture, out, save_format, exif, icc_profile)


def _image_format(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix == ".png":
        return "PNG"
    if suffix in (".jpg", ".jpeg"):
        return "JPEG"
    raise ValueError(f"out must end in .png, .jpg or .jpeg, not {out.name!r}")


def _exif_without_location(image: Image.Image) -> Image.Exif:
    """The photo's EXIF cut down to when and with what it was taken (see ``_KEPT_*_TAGS``)."""
    kept = Image.Exif()
    try:
        original = image.getexif()
        for tag, value in original.items():
            if tag in _KEPT_IMAGE_TAGS:
                kept[tag] = value
        details = {
            tag: value
            for tag, value in original.get_ifd(ExifTags.IFD.Exif).items()
            if tag in _KEPT_EXIF_TAGS
        }
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        return Image.Exif()
    if details:
        kept[ExifTags.IFD.Exif] = details
    return kept


def _save_image(
    source: Path,
    picture: Image.Image,
    out: Path,
    save_format: str,
    exif: Image.Exif,
    icc_profile: bytes | None,
) -> None:
    options: dict[str, Any] = {"exif": exif.tobytes()}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if save_format == "JPEG":
        options["quality"] = 92
    with _writing(source, out) as partial:
        picture.save(partial, save_format, **options)


def redact_video(
    path: Path,
    out: Path,
    boxes: Sequence[Box],
    mode: RedactionMode,
    progress: Progress | None = None,
) -> None:
    """Write an H.264/AAC MP4 copy of a video with each box blurred or blacked out while shown.

    One ffmpeg filter graph does it all: for blurring, each box's area is cut out, pixelated,
    box-blurred and laid back over the frame between its start and end; for blacking out, a
    filled black box is drawn for that time. The copy keeps the original's size (padded by a
    pixel to an even size if needed, as H.264 requires).
    """
    path, out = Path(path), Path(out)
    _check_mode(mode)
    info = probe(path, "video")
    width, height = _video_size(path, info)
    boxes = [_even(box.clamped(width, height), width, height) for box in boxes]
    graph = _redaction_graph(boxes, mode)
    with _writing(path, out) as partial:
        args = ["-i", str(path), "-filter_complex", graph, "-map", "[v]", "-map", "0:a:0?"]
        args += [*_H264, *_AAC, *_MP4_OUTPUT, str(partial)]
        _encode(path, args, info.get("duration_seconds"), progress, "redact")


def _even(box: Box, width: int, height: int) -> Box:
    """Grow a box outwards to even coordinates, as 4:2:0 colour needs, within the padded frame."""
    left, top = box.x - box.x % 2, box.y - box.y % 2
    right = min(width + width % 2, box.x + box.width + (box.x + box.width) % 2)
    bottom = min(height + height % 2, box.y + box.height + (box.y + box.height) % 2)
    return replace(box, x=left, y=top, width=right - left, height=bottom - top)


def _enable(box: Box) -> str:
    if box.start is None and box.end is None:
        return ""
    start = box.start or 0.0
    if box.end is None:
        return f":enable='gte(t,{start:.3f})'"
    return f":enable='between(t,{start:.3f},{box.end:.3f})'"


def _redaction_graph(boxes: Sequence[Box], mode: RedactionMode) -> str:
    steps = ["[0:v]pad=ceil(iw/2)*2:ceil(ih/2)*2,format=yuv420p[f0]"]
    for number, box in enumerate(boxes):
        frame, result = f"[f{number}]", f"[f{number + 1}]"
        if mode == "black":
            area = f"x={box.x}:y={box.y}:w={box.width}:h={box.height}"
            steps.append(f"{frame}drawbox={area}:color=black:t=fill{_enable(box)}{result}")
            continue
        across, down = _blur_blocks(box.width, box.height)
        longest, shortest = max(box.width, box.height), min(box.width, box.height)
        radius = min(longest // (2 * BLUR_BLOCKS), shortest // 4)
        blur = f",boxblur={radius}:2:{radius // 2}:2" if radius >= 2 else ""
        steps.append(
            f"{frame}split[b{number}][c{number}];"
            f"[c{number}]crop={box.width}:{box.height}:{box.x}:{box.y}:exact=1,"
            f"scale={across}:{down}:flags=area,"
            f"scale={box.width}:{box.height}:flags=neighbor{blur}[p{number}];"
            f"[b{number}][p{number}]overlay={box.x}:{box.y}{_enable(box)}{result}"
        )
    steps.append(f"[f{len(boxes)}]null[v]")
    return ";".join(steps)


# --- Face suggestions -----------------------------------------------------------------------

_detectors = threading.local()


def _face_detector() -> Any:
    import cv2  # loaded only when faces are wanted: it is large

    detector = getattr(_detectors, "face", None)
    if detector is None:
        folder = cv2.data.haarcascades  # type: ignore[attr-defined]
        detector = cv2.CascadeClassifier(str(Path(folder) / FACE_CASCADE))
        if detector.empty():
            raise MediaError(f"OpenCV's {FACE_CASCADE} could not be loaded")
        _detectors.face = detector
    return detector


def suggest_faces(path: Path, kind: str, max_frames: int = 5) -> list[dict[str, Any]]:
    """Suggest boxes around faces for a person to accept or reject; never applied by itself.

    Each suggestion has ``x``, ``y``, ``width``, ``height`` (padded so the whole head is
    covered, overlapping boxes merged) and ``confidence`` (the detector's score, or None).
    For video, up to ``max_frames`` evenly spaced frames are examined and each suggestion also
    has ``start`` and ``end``: the stretch of the clip around the frames it was seen in.
    """
    path = Path(path)
    if kind == "image":
        with _open_image(path) as image:
            picture = _upright_rgb(image)
        faces = _detect_faces(picture)
        return [_face_json(face) for face in _merge_faces(faces)]
    if kind == "video":
        return _suggest_video_faces(path, max(1, max_frames))
    raise ValueError(f"faces are suggested for kind 'image' or 'video', not {kind!r}")


def _detect_faces(picture: Image.Image) -> list[dict[str, Any]]:
    import cv2

    scale = min(1.0, DETECTION_MAX_SIDE / max(picture.size))
    small = picture.convert("L")
    if scale < 1.0:
        size = (round(picture.width * scale), round(picture.height * scale))
        small = small.resize(size, Image.Resampling.BOX)
    gray = cv2.equalizeHist(np.asarray(small, dtype=np.uint8))
    found = _face_detector().detectMultiScale3(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24), outputRejectLevels=True
    )
    rectangles, weights = found[0], found[2] if len(found) > 2 else None
    faces = []
    for index, (x, y, w, h) in enumerate(rectangles):
        confidence = None
        if weights is not None and len(weights) > index:
            confidence = round(float(np.ravel(weights)[index]), 3)
        padded = _pad((x / scale, y / scale, w / scale, h / scale), picture.size)
        faces.append({**padded, "confidence": confidence})
    return faces


def _pad(area: tuple[float, float, float, float], size: tuple[int, int]) -> dict[str, int]:
    x, y, w, h = area
    left = max(0, math.floor(x - w * FACE_PADDING))
    top = max(0, math.floor(y - h * FACE_PADDING))
    right = min(size[0], math.ceil(x + w * (1 + FACE_PADDING)))
    bottom = min(size[1], math.ceil(y + h * (1 + FACE_PADDING)))
    return {"x": left, "y": top, "width": right - left, "height": bottom - top}


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    apart = (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )
    at_other_times = "start" in a and (a["end"] < b["start"] or b["end"] < a["start"])
    return not (apart or at_other_times)


def _merge_faces(faces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join boxes that overlap (for video, also in time) into one covering both.

    In a video this makes one box over the path of a face that moves between sampled frames,
    so it stays covered in between.
    """
    merged: list[dict[str, Any]] = []
    for face in faces:
        # A union can grow to touch boxes already kept, so re-check until nothing overlaps.
        while overlapping := [kept for kept in merged if _overlap(kept, face)]:
            for kept in overlapping:
                merged.remove(kept)
                face = _union(kept, face)
        merged.append(face)
    return sorted(merged, key=lambda face: (face.get("start", 0.0), face["x"], face["y"]))


def _union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    left, top = min(a["x"], b["x"]), min(a["y"], b["y"])
    right = max(a["x"] + a["width"], b["x"] + b["width"])
    bottom = max(a["y"] + a["height"], b["y"] + b["height"])
    scores = [s for s in (a["confidence"], b["confidence"]) if s is not None]
    union = {"x": left, "y": top, "width": right - left, "height": bottom - top}
    union["confidence"] = max(scores) if scores else None
    if "start" in a:
        union["start"], union["end"] = min(a["start"], b["start"]), max(a["end"], b["end"])
    return union


def _face_json(face: dict[str, Any]) -> dict[str, Any]:
    keys = ("x", "y", "width", "height", "start", "end", "confidence")
    return {key: face[key] for key in keys if key in face}


def _suggest_video_faces(path: Path, max_frames: int) -> list[dict[str, Any]]:
    info = probe(path, "video")
    duration = float(info["duration_seconds"])
    step = duration / max_frames
    times = [step * (number + 0.5) for number in range(max_frames)]
    faces: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="peel-faces-") as folder:
        frames = [Path(folder) / f"frame{number}.png" for number in range(max_frames)]
        _extract_frames(path, times, frames, ["-c:v", "png"])
        for at, frame in zip(times, frames, strict=True):
            if not frame.exists() or frame.stat().st_size == 0:
                continue
            with _open_image(frame) as image:
                picture = image.convert("RGB")
            start, end = round(max(0.0, at - step / 2), 3), round(min(duration, at + step / 2), 3)
            faces += [{**face, "start": start, "end": end} for face in _detect_faces(picture)]
    return [_face_json(face) for face in _merge_faces(faces)]


# --- Watermarks -----------------------------------------------------------------------------


def _watermark_layer(size: tuple[int, int], text: str) -> Image.Image:
    """A transparent picture of ``size`` covered in faint diagonal rows of ``text``."""
    width, height = size
    font_size = max(10, round(min(width, height) / 24))
    font = ImageFont.load_default(size=font_size)
    text = _drawable(font, text)
    # Rows of text on a square as wide as the picture's diagonal, turned and cut to size.
    diagonal = math.ceil(math.hypot(width, height))
    rows = Image.new("RGBA", (diagonal, diagonal), (0, 0, 0, 0))
    draw = ImageDraw.Draw(rows)
    repeat = max(1.0, font.getlength(text + "    "))
    for row, y in enumerate(range(0, diagonal, font_size * 3)):
        x = -(row % 2) * repeat / 2
        while x < diagonal:
            draw.text(
                (x, y),
                text,
                font=font,
                fill=(255, 255, 255, 120),
                stroke_width=max(1, font_size // 14),
                stroke_fill=(0, 0, 0, 100),
            )
            x += repeat
    turned = rows.rotate(30, resample=Image.Resampling.BICUBIC)
    left, top = (diagonal - width) // 2, (diagonal - height) // 2
    return turned.crop((left, top, left + width, top + height))


def _drawable(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> str:
    """``text`` on one line, with characters the font lacks replaced by near equivalents.

    Pillow's built-in font covers few characters beyond ASCII, so dashes and quotes become
    ASCII, accented letters lose their accents if need be (Siân becomes Sian), and anything
    else becomes "?" rather than an empty box.
    """
    text = " ".join(text.translate(_ASCII_PUNCTUATION).split())
    if not text:
        raise ValueError("text must say something, such as who is viewing and when")
    missing = _glyph(font, "\uffff")
    drawable = []
    for character in text:
        if character.isascii() or _glyph(font, character) != missing:
            drawable.append(character)
            continue
        decomposed = unicodedata.normalize("NFKD", character)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
        drawable.append(folded if folded.isascii() and folded else "?")
    return "".join(drawable)


def _glyph(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, character: str) -> bytes:
    size = round(getattr(font, "size", 10)) * 2
    picture = Image.new("L", (size, size), 0)
    ImageDraw.Draw(picture).text((0, 0), character, font=font, fill=255)
    return picture.tobytes()


def watermark_image(path: Path, out: Path, text: str) -> None:
    """Write an upright copy of a photo with ``text`` repeated faintly across it (PNG or JPEG)."""
    path, out = Path(path), Path(out)
    save_format = _image_format(out)
    with _open_image(path) as image:
        exif = _exif_without_location(image)
        icc_profile = image.info.get("icc_profile")
        picture = _upright_rgb(image)
    marked = Image.alpha_composite(picture.convert("RGBA"), _watermark_layer(picture.size, text))
    _save_image(path, marked.convert("RGB"), out, save_format, exif, icc_profile)


def watermark_video(path: Path, out: Path, text: str, progress: Progress | None = None) -> None:
    """Write an H.264/AAC MP4 copy of a video with ``text`` repeated faintly across every frame."""
    path, out = Path(path), Path(out)
    info = probe(path, "video")
    width, height = _video_size(path, info)
    layer = _watermark_layer((width + width % 2, height + height % 2), text)
    graph = (
        "[0:v]pad=ceil(iw/2)*2:ceil(ih/2)*2,format=yuv420p[f];"
        "[f][1:v]overlay=0:0:format=auto,format=yuv420p[v]"
    )
    with (
        tempfile.TemporaryDirectory(prefix="peel-watermark-") as folder,
        _writing(path, out) as partial,
    ):
        mark = Path(folder) / "watermark.png"
        layer.save(mark)
        args = ["-i", str(path), "-i", str(mark), "-filter_complex", graph]
        args += ["-map", "[v]", "-map", "0:a:0?", *_H264, *_AAC, *_MP4_OUTPUT, str(partial)]
        _encode(path, args, info.get("duration_seconds"), progress, "watermark")
