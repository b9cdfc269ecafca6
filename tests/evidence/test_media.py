"""Evidence media: metadata, thumbnails, previews, face suggestions, redaction, watermarks.

Everything runs on synthetic photos and clips made by ``peel.evidence.demo_media``; video
tests need Debian's ffmpeg and are skipped, saying so, where it is not installed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image

from peel.evidence import media
from peel.evidence.demo_media import (
    DEMO_LOCATION,
    DEMO_TAKEN_AT,
    make_bwv_clip,
    make_cctv_clip,
    make_face_photo,
)
from peel.evidence.media import (
    Box,
    MediaError,
    ffmpeg_available,
    probe,
    redact_image,
    redact_video,
    sha256_file,
    suggest_faces,
    thumbnail,
    transcode_preview,
    watermark_image,
    watermark_video,
)

needs_ffmpeg = pytest.mark.skipif(
    not ffmpeg_available(), reason="video handling needs ffmpeg and ffprobe (Debian's ffmpeg)"
)
VIEWER = "Viewed by A. Person (CPS) 2026-11-22 10:00 UTC — do not copy"
CLIP_SECONDS = 4.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def photo(folder: Path) -> Path:
    path = folder / "street.jpg"
    make_face_photo(path, seed=0)
    return path


@pytest.fixture(scope="module")
def face_box(photo: Path) -> Box:
    (face,) = suggest_faces(photo, "image")
    return Box(face["x"], face["y"], face["width"], face["height"])


@pytest.fixture(scope="module")
def clip(folder: Path) -> Path:
    if not ffmpeg_available():
        pytest.skip("video handling needs ffmpeg and ffprobe (Debian's ffmpeg)")
    path = folder / "cctv.mp4"
    make_cctv_clip(path, seconds=CLIP_SECONDS)
    return path


@pytest.fixture(scope="module")
def avi_clip(folder: Path) -> Path:
    if not ffmpeg_available():
        pytest.skip("video handling needs ffmpeg and ffprobe (Debian's ffmpeg)")
    path = folder / "cctv.avi"
    make_cctv_clip(path, seconds=3, with_face=False, playable=False)
    return path


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def frame_at(path: Path, seconds: float) -> np.ndarray:
    """The decoded frame of a demo clip (640x360) shown at ``seconds``, as RGB pixels."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-ss", str(seconds), "-i", str(path)]
    done = subprocess.run(
        [*command, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return np.frombuffer(done.stdout, np.uint8).reshape(360, 640, 3)


def inside(picture: np.ndarray, box: Box) -> np.ndarray:
    return picture[box.y : box.y + box.height, box.x : box.x + box.width]


def outside(picture: np.ndarray, box: Box) -> np.ndarray:
    keep = np.ones(picture.shape[:2], dtype=bool)
    keep[box.y : box.y + box.height, box.x : box.x + box.width] = False
    return picture[keep]


# --- Photo metadata -------------------------------------------------------------------------


def test_photo_time_camera_and_place_are_read_from_exif(photo: Path) -> None:
    info = probe(photo, "image")

    assert (info["width"], info["height"], info["format"]) == (1024, 768, "jpeg")
    assert (info["camera_make"], info["camera_model"]) == ("PeelCam", "Demo")
    taken = datetime.fromisoformat(info["captured_at"])
    assert taken.utcoffset() == timedelta(0)
    assert DEMO_TAKEN_AT <= taken <= DEMO_TAKEN_AT + timedelta(hours=10)
    # Winchester is west of Greenwich: the W reference must make the longitude negative.
    assert info["gps_latitude"] == pytest.approx(DEMO_LOCATION[0], abs=0.03)
    assert info["gps_longitude"] == pytest.approx(DEMO_LOCATION[1], abs=0.03)


def test_photo_without_gps_has_no_place(folder: Path) -> None:
    path = folder / "no-gps.jpg"
    make_face_photo(path, seed=1, with_gps=False)

    info = probe(path, "image")

    assert "gps_latitude" not in info and "gps_longitude" not in info
    assert info["camera_make"] == "PeelCam"


def test_southern_and_eastern_gps_and_sideways_orientation(folder: Path) -> None:
    path = folder / "sydney.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated to portrait
    exif[ExifTags.IFD.GPSInfo] = {1: "S", 2: (33.0, 51.0, 54.0), 3: "E", 4: (151.0, 12.0, 36.0)}
    Image.new("RGB", (400, 300), (90, 120, 150)).save(path, exif=exif.tobytes())

    info = probe(path, "image")

    assert (info["width"], info["height"], info["orientation"]) == (300, 400, 6)
    assert info["gps_latitude"] == pytest.approx(-33.865)
    assert info["gps_longitude"] == pytest.approx(151.21)
    assert "captured_at" not in info and "camera_make" not in info


def test_random_bytes_are_not_a_photo(folder: Path) -> None:
    path = folder / "noise.jpg"
    path.write_bytes(np.random.default_rng(1).bytes(5000))

    with pytest.raises(MediaError, match=r"noise\.jpg"):
        probe(path, "image")


def test_sha256_file_matches_hashlib(photo: Path) -> None:
    assert sha256_file(photo) == hashlib.sha256(photo.read_bytes()).hexdigest()


# --- Video metadata -------------------------------------------------------------------------


@needs_ffmpeg
def test_probe_reads_a_clip(clip: Path) -> None:
    info = probe(clip, "video")

    assert info["duration_seconds"] == pytest.approx(CLIP_SECONDS, abs=0.5)
    assert (info["video_codec"], info["width"], info["height"]) == ("h264", 640, 360)
    assert info["frame_rate"] == 15
    assert info["creation_time"] == DEMO_TAKEN_AT.isoformat()
    assert info["browser_playable"] is True
    assert "audio_codec" not in info


@needs_ffmpeg
def test_old_cctv_export_is_not_browser_playable(avi_clip: Path) -> None:
    info = probe(avi_clip, "video")

    assert (info["container"], info["video_codec"]) == ("avi", "mpeg4")
    assert info["browser_playable"] is False


@needs_ffmpeg
def test_body_worn_video_has_sound_and_is_playable(folder: Path) -> None:
    path = folder / "bwv.mp4"
    make_bwv_clip(path, seconds=2, device_id="BWV-0042")

    info = probe(path, "video")

    assert info["audio_codec"] == "aac"
    assert info["browser_playable"] is True
    assert info["creation_time"] == DEMO_TAKEN_AT.isoformat()
    assert probe(path, "audio")["duration_seconds"] == pytest.approx(2, abs=0.5)


@needs_ffmpeg
def test_truncated_video_is_reported_by_name(clip: Path, folder: Path) -> None:
    damaged = folder / "cut-short.mp4"
    damaged.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])

    with pytest.raises(MediaError, match=r"could not read cut-short\.mp4: .*damaged") as error:
        probe(damaged, "video")
    assert str(folder) not in str(error.value)


@needs_ffmpeg
def test_random_bytes_are_not_a_video(folder: Path) -> None:
    path = folder / "noise.mp4"
    path.write_bytes(np.random.default_rng(2).bytes(200_000))

    with pytest.raises(MediaError, match=r"noise\.mp4"):
        probe(path, "video")
    with pytest.raises(MediaError, match=r"noise\.mp4"):
        transcode_preview(path, folder / "noise-preview.mp4")
    assert not (folder / "noise-preview.mp4").exists()


def test_missing_ffprobe_is_explained(photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media.shutil, "which", lambda name: None)

    assert ffmpeg_available() is False
    with pytest.raises(MediaError, match=r"street\.mp4: ffprobe is not installed"):
        probe(photo.with_suffix(".mp4"), "video")


# --- Thumbnails and previews ----------------------------------------------------------------


def test_photo_thumbnail_is_a_small_jpeg(photo: Path, folder: Path) -> None:
    out = folder / "thumb.jpg"

    thumbnail(photo, "image", out, max_size=200)

    with Image.open(out) as image:
        assert image.format == "JPEG"
        assert image.size == (200, 150)


def test_photo_thumbnail_is_upright(folder: Path) -> None:
    path, out = folder / "sideways.jpg", folder / "sideways-thumb.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (800, 400), (10, 200, 10)).save(path, exif=exif.tobytes())

    thumbnail(path, "image", out, max_size=100)

    with Image.open(out) as image:
        assert image.size == (50, 100)


@needs_ffmpeg
def test_video_poster_is_a_small_jpeg(avi_clip: Path, folder: Path) -> None:
    out = folder / "poster.jpg"

    thumbnail(avi_clip, "video", out, max_size=160)

    with Image.open(out) as image:
        assert image.format == "JPEG"
        assert image.size == (160, 90)


@needs_ffmpeg
def test_preview_of_an_unplayable_clip_plays_in_browsers(avi_clip: Path, folder: Path) -> None:
    out = folder / "preview.mp4"
    reported: list[float] = []

    transcode_preview(avi_clip, out, progress=reported.append)

    info = probe(out, "video")
    assert info["video_codec"] == "h264" and info["browser_playable"] is True
    assert (info["width"], info["height"]) == (640, 360)
    assert info["duration_seconds"] == pytest.approx(3, abs=0.5)
    assert reported == sorted(reported) and reported[-1] == 1.0


# --- Face suggestions -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_the_face_in_each_demo_photo_is_suggested(folder: Path, seed: int) -> None:
    path = folder / f"face-{seed}.jpg"
    make_face_photo(path, seed=seed)

    suggestions = suggest_faces(path, "image")

    assert len(suggestions) == 1
    face = suggestions[0]
    assert 100 <= face["width"] <= 400 and 100 <= face["height"] <= 400
    assert face["confidence"] > 0
    red, green, blue = pixels(path)[face["y"] + face["height"] // 2, face["x"] + face["width"] // 2]
    assert red > green > blue  # the middle of the box is skin, not brick or sky


@needs_ffmpeg
def test_the_passer_by_in_the_clip_is_suggested(clip: Path) -> None:
    suggestions = suggest_faces(clip, "video", max_frames=4)

    assert suggestions
    for face in suggestions:
        assert 0 <= face["start"] < face["end"] <= CLIP_SECONDS + 0.5
        assert face["y"] + face["height"] <= 360 and face["x"] + face["width"] <= 640
    assert min(f["start"] for f in suggestions) < 1.0 < max(f["end"] for f in suggestions)


# --- Redaction ------------------------------------------------------------------------------


def test_blurred_face_is_unrecognisable_and_nothing_else_changes(
    photo: Path, face_box: Box, folder: Path
) -> None:
    out = folder / "redacted.png"
    before = sha256_file(photo)

    redact_image(photo, out, [face_box], "blur")

    original, redacted = pixels(photo), pixels(out)
    assert np.abs(inside(original, face_box) - inside(redacted, face_box)).mean() > 10
    assert np.array_equal(outside(original, face_box), outside(redacted, face_box))
    assert suggest_faces(out, "image") == []
    assert sha256_file(photo) == before
    info = probe(out, "image")
    assert "gps_latitude" not in info and "gps_longitude" not in info
    assert info["captured_at"] == probe(photo, "image")["captured_at"]


def test_blacked_out_box_is_black_in_a_jpeg(photo: Path, face_box: Box, folder: Path) -> None:
    out = folder / "blacked.jpg"

    redact_image(photo, out, [face_box], "black")

    with Image.open(out) as image:
        assert image.format == "JPEG"
    middle = Box(face_box.x + 8, face_box.y + 8, face_box.width - 16, face_box.height - 16)
    assert inside(pixels(out), middle).max() < 12
    assert "gps_latitude" not in probe(out, "image")


def test_boxes_reaching_past_the_edge_are_clamped(photo: Path, folder: Path) -> None:
    out = folder / "corner.png"

    redact_image(photo, out, [Box(1000, 700, 500, 500)], "black")

    assert pixels(out)[700:, 1000:].max() == 0


def test_redaction_never_writes_over_the_original(photo: Path, face_box: Box) -> None:
    before = sha256_file(photo)

    with pytest.raises(ValueError, match="original"):
        redact_image(photo, photo, [face_box], "black")
    assert sha256_file(photo) == before


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"x": -1}, "x"),
        ({"y": -3}, "y"),
        ({"width": 0}, "width"),
        ({"height": -2}, "height"),
        ({"x": 1.5}, "x"),
        ({"start": -1.0}, "start"),
        ({"start": 2.0, "end": 2.0}, "end"),
        ({"start": 3.0, "end": 1.0}, "end"),
    ],
)
def test_box_validation_names_the_field(fields: dict[str, float], named: str) -> None:
    values = {"x": 10, "y": 10, "width": 20, "height": 20} | fields

    with pytest.raises(ValueError, match=rf"^{named} "):
        Box(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("box", "named"), [(Box(1024, 0, 5, 5), "x"), (Box(0, 900, 5, 5), "y")])
def test_box_outside_the_photo_names_the_field(
    photo: Path, folder: Path, box: Box, named: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{named} .*outside the frame"):
        redact_image(photo, folder / "outside.png", [box], "blur")


@needs_ffmpeg
def test_video_is_blurred_only_inside_the_box_and_only_while_asked(
    clip: Path, folder: Path
) -> None:
    out = folder / "redacted.mp4"
    box = Box(40, 60, 400, 180, start=1.0, end=2.5)
    reported: list[float] = []

    redact_video(clip, out, [box], "blur", progress=reported.append)

    assert probe(out, "video")["browser_playable"] is True
    during_before, during_after = frame_at(clip, 1.7), frame_at(out, 1.7)
    changed = np.abs(inside(during_before, box).astype(int) - inside(during_after, box))
    assert changed.mean() > 10
    unchanged = np.abs(outside(during_before, box).astype(int) - outside(during_after, box))
    assert unchanged.mean() < 3
    later_before, later_after = frame_at(clip, 3.3), frame_at(out, 3.3)
    assert np.abs(later_before.astype(int) - later_after).mean() < 3
    assert reported[-1] == 1.0


@needs_ffmpeg
def test_video_box_can_be_blacked_out(clip: Path, folder: Path) -> None:
    out = folder / "blacked.mp4"
    box = Box(101, 51, 99, 77, start=0.5)

    redact_video(clip, out, [box], "black")

    middle = Box(box.x + 4, box.y + 4, box.width - 8, box.height - 8)
    assert inside(frame_at(out, 2.0), middle).max() < 24
    assert inside(frame_at(out, 0.2), middle).max() > 60


# --- Watermarks -----------------------------------------------------------------------------


def test_watermark_marks_a_photo_and_keeps_its_size(photo: Path, folder: Path) -> None:
    out = folder / "watermarked.jpg"

    watermark_image(photo, out, VIEWER)

    original, marked = pixels(photo), pixels(out)
    assert marked.shape == original.shape
    difference = np.abs(original - marked).max(axis=2)
    assert (difference > 40).mean() > 0.02
    assert "gps_latitude" not in probe(out, "image")


def test_watermark_needs_some_text(photo: Path, folder: Path) -> None:
    with pytest.raises(ValueError, match="text"):
        watermark_image(photo, folder / "blank.png", "   ")


@needs_ffmpeg
def test_watermark_marks_every_frame_of_a_video(avi_clip: Path, folder: Path) -> None:
    out = folder / "watermarked.mp4"

    watermark_video(avi_clip, out, VIEWER)

    info = probe(out, "video")
    assert (info["width"], info["height"], info["browser_playable"]) == (640, 360, True)
    for seconds in (0.3, 2.5):
        difference = np.abs(frame_at(avi_clip, seconds).astype(int) - frame_at(out, seconds))
        assert (difference.max(axis=2) > 40).mean() > 0.02
