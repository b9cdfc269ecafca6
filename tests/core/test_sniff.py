"""Content sniffing: real tiny files made here, refusals with reasons, and random bytes."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peel.core.sniff import (
    EVIDENCE_KINDS,
    REPORT_KINDS,
    SNIFF_BYTES,
    Sniffed,
    UploadRefused,
    check_claims,
    check_declared,
    extension_of,
    kinds_phrase,
    sniff,
)
from tests.conftest import png_bytes

# --- tiny real files ----------------------------------------------------------------------


def jpeg_bytes() -> bytes:
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body


def mp4_bytes(size: int = 2048) -> bytes:
    box = ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41")
    mdat = struct.pack(">I", size - len(box)) + b"mdat"
    return (box + mdat).ljust(size, b"\x00")


def riff(form: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 100) + form + b"\x00" * 92


def ebml(doctype: bytes) -> bytes:
    return b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84" + doctype + b"\x42\x87\x81\x02"


def mpeg_ts(packets: int = 8) -> bytes:
    return b"".join(b"\x47\x40\x00\x10" + b"\xff" * 184 for _ in range(packets))


def zip_bytes(members: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (members or {"photo.jpg": jpeg_bytes()}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = jpeg_bytes()
        info = tarfile.TarInfo("photo.jpg")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def elf_bytes() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, 0x3E, 1)


def pe_bytes() -> bytes:
    dos = bytearray(b"MZ" + b"\x00" * 62)
    struct.pack_into("<I", dos, 0x3C, 64)
    return bytes(dos) + b"PE\x00\x00" + b"\x00" * 20


# --- recognised ---------------------------------------------------------------------------

RECOGNISED = [
    (jpeg_bytes(), "image/jpeg", "image"),
    (png_bytes(), "image/png", "image"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", "image"),
    (b"GIF87a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", "image"),
    (riff(b"WEBP"), "image/webp", "image"),
    (ftyp(b"heic", b"mif1", b"heic"), "image/heic", "image"),
    (ftyp(b"heix", b"mif1"), "image/heic", "image"),
    (ftyp(b"mif1", b"heic"), "image/heic", "image"),
    (ftyp(b"mif1", b"miaf"), "image/heif", "image"),
    (ftyp(b"msf1", b"iso8"), "image/heif", "image"),
    (ftyp(b"avif", b"mif1"), "image/avif", "image"),
    (b"II*\x00\x08\x00\x00\x00", "image/tiff", "image"),
    (mp4_bytes(), "video/mp4", "video"),
    (ftyp(b"mp42", b"isom"), "video/mp4", "video"),
    (ftyp(b"M4V ", b"M4V ", b"mp42"), "video/x-m4v", "video"),
    (ftyp(b"qt  ", b"qt  "), "video/quicktime", "video"),
    (ftyp(b"3gp4", b"isom"), "video/3gpp", "video"),
    (ftyp(b"3g2a"), "video/3gpp2", "video"),
    (ftyp(b"XXXX", b"abcd", b"isom"), "video/mp4", "video"),
    (struct.pack(">I", 100) + b"moov" + b"\x00" * 92, "video/quicktime", "video"),
    (ebml(b"webm"), "video/webm", "video"),
    (ebml(b"matroska"), "video/x-matroska", "video"),
    (riff(b"AVI "), "video/x-msvideo", "video"),
    (mpeg_ts(), "video/mp2t", "video"),
    (b"".join(b"\x00\x00\x00\x00" + p for p in [mpeg_ts(1)] * 4), "video/mp2t", "video"),
    (b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01", "video/mpeg", "video"),
    (b"\x00\x00\x00\x01\x67\x42\x00\x1e", "video/h264", "video"),
    (riff(b"WAVE"), "audio/wav", "audio"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg", "audio"),
    (ftyp(b"M4A ", b"M4A ", b"mp42"), "audio/mp4", "audio"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf", "document"),
    (b"Dear officer,\nThe car was red.\n", "text/plain", "text"),
    ("Caf\u00e9 \u00a35 \u2014 r\u00e9sum\u00e9".encode(), "text/plain", "text"),
    ("Caf\u00e9 \u00a35".encode("cp1252"), "text/plain", "text"),
    ("\ufeffHello".encode("utf-16"), "text/plain", "text"),
    (b'<?xml version="1.0"?><statement><line>hi</line></statement>', "application/xml", "text"),
]


@pytest.mark.parametrize(("data", "content_type", "kind"), RECOGNISED)
def test_recognises_media_documents_and_text(data: bytes, content_type: str, kind: str) -> None:
    result = sniff(data)
    assert (result.content_type, result.kind, result.refused_reason) == (content_type, kind, None)
    assert result.recognised


def test_a_cut_multibyte_character_at_the_end_of_the_head_is_still_text() -> None:
    text = ("a" * (SNIFF_BYTES - 1) + "\u00e9 and more").encode()
    assert sniff(text[:SNIFF_BYTES]).kind == "text"


def test_unknown_binary_and_empty_input_are_not_recognised() -> None:
    assert sniff(b"") == Sniffed(None, None)
    assert sniff(bytes(range(256)) * 4).kind is None
    assert sniff(b"\x00\x01\x02\x03binary").kind is None


# --- refused ------------------------------------------------------------------------------

REFUSED = [
    (pe_bytes(), "Windows program"),
    (elf_bytes(), "Linux or Unix program"),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", "macOS program"),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x02", "program"),
    (b"#!/bin/sh\nrm -rf /\n", "script"),
    (b"#!/usr/bin/env python3\nprint('hi')\n", "script"),
    (zip_bytes(), "ZIP archive"),
    (zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
     "Microsoft Office"),
    (zip_bytes({"META-INF/MANIFEST.MF": b"x", "Main.class": b"\xca\xfe"}), "Java"),
    (zip_bytes({"AndroidManifest.xml": b"x", "classes.dex": b"dex"}), "Android"),
    (b"Rar!\x1a\x07\x01\x00" + b"\x00" * 16, "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24, "7-Zip archive"),
    (gzip.compress(b"hello" * 100, mtime=0), "gzip"),
    (bz2.compress(b"hello" * 100), "bzip2"),
    (lzma.compress(b"hello" * 100), "xz"),
    (b"\x28\xb5\x2f\xfd\x20\x05\x29\x00\x00hello", "Zstandard"),
    (tar_bytes(), "tar archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 24, "macros"),
    (b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>", "web page"),
    (b"  \n<html>\n<head><title>x</title></head></html>", "web page"),
    (b"<p>hello</p>", "web page"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    (b"<?php system($_GET['c']); ?>", "server script"),
    (b"%!PS-Adobe-3.0\n", "PostScript"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "reason"), REFUSED)
def test_refuses_programs_archives_and_markup_with_a_reason(data: bytes, reason: str) -> None:
    result = sniff(data)
    assert result.kind is None
    assert result.refused_reason and reason.lower() in result.refused_reason.lower(), result
    with pytest.raises(UploadRefused, match="(?i)" + reason.split()[0]):
        check_declared(result, None, None, EVIDENCE_KINDS)


# --- declared types and names -------------------------------------------------------------


def test_declared_jpeg_with_png_bytes_is_a_photo_and_keeps_the_real_type() -> None:
    verdict = check_declared(sniff(png_bytes()), "image/jpeg", "IMG_0001.JPG")
    assert verdict == Sniffed("image/png", "image")


def test_a_photo_whose_bytes_are_a_video_is_refused() -> None:
    with pytest.raises(UploadRefused, match=r"described as image/jpeg.*video \(video/mp4\)"):
        check_declared(sniff(mp4_bytes()), "image/jpeg", "holiday.jpg")
    with pytest.raises(UploadRefused, match=r"named \.jpg"):
        check_declared(sniff(mp4_bytes()), None, "holiday.jpg")
    with pytest.raises(UploadRefused, match="video"):
        check_declared(sniff(jpeg_bytes()), "video/mp4", None)


def test_unknown_bytes_are_refused_in_words_a_member_of_the_public_understands() -> None:
    with pytest.raises(UploadRefused) as refused:
        check_declared(sniff(b"\x00\x01\x02\x03"), "image/jpeg", "x.jpg", REPORT_KINDS)
    assert refused.value.reason == "We could not recognise this file as a photo or video."


def test_the_caller_chooses_the_kinds() -> None:
    pdf = sniff(b"%PDF-1.4\n")
    with pytest.raises(UploadRefused, match="only a photo or video"):
        check_declared(pdf, "application/pdf", "statement.pdf", REPORT_KINDS)
    assert check_declared(pdf, "application/pdf", "statement.pdf", EVIDENCE_KINDS).kind == (
        "document"
    )
    with pytest.raises(UploadRefused, match="only a photo or video"):
        check_declared(sniff(b"plain words\n"), "text/plain", "notes.txt", REPORT_KINDS)


def test_sound_in_a_webm_container_is_audio_when_declared_so() -> None:
    webm = sniff(ebml(b"webm"))
    assert check_declared(webm, "audio/webm", "voice.webm", EVIDENCE_KINDS) == Sniffed(
        "audio/webm", "audio"
    )
    assert check_declared(webm, "video/webm", "clip.webm", REPORT_KINDS).kind == "video"
    with pytest.raises(UploadRefused):
        check_declared(webm, "audio/webm", "voice.webm", REPORT_KINDS)


def test_dangerous_names_and_types_are_refused_before_any_bytes() -> None:
    for filename in ("evil.exe", "photo.jpg.exe", "archive.zip", "page.html", "x.svg", "a.JS"):
        with pytest.raises(UploadRefused, match="not accepted"):
            check_claims(None, filename)
    for declared in ("application/zip", "text/html", "image/svg+xml; charset=utf-8"):
        with pytest.raises(UploadRefused, match="not accepted"):
            check_claims(declared, None)
    with pytest.raises(UploadRefused, match="do not agree"):
        check_claims("image/jpeg", "clip.mp4")
    with pytest.raises(UploadRefused, match="only a photo or video"):
        check_claims("application/pdf", None, REPORT_KINDS)
    assert check_claims("image/jpeg", "x.jpeg") == ("image", "image")
    assert check_claims("application/octet-stream", "noextension") == (None, None)


def test_even_a_real_photo_named_exe_is_refused() -> None:
    with pytest.raises(UploadRefused, match=r"\.exe"):
        check_declared(sniff(png_bytes()), "image/png", "photo.exe")


def test_helpers() -> None:
    assert extension_of("C:\\Users\\me\\IMG.HEIC") == "heic"
    assert extension_of("noext") == ""
    assert extension_of("dir.d/file") == ""
    assert kinds_phrase(REPORT_KINDS) == "photo or video"
    assert kinds_phrase(EVIDENCE_KINDS) == "photo, video, sound recording or PDF document"


# --- random bytes -------------------------------------------------------------------------

MAGICS = [data[:16] for data, _, _ in RECOGNISED] + [data[:16] for data, _ in REFUSED]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=SNIFF_BYTES + 100))
def test_random_bytes_never_crash_sniff(data: bytes) -> None:
    result = sniff(data)
    assert isinstance(result, Sniffed)
    assert result.refused_reason is None or result.kind is None


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(MAGICS),
    st.binary(max_size=600),
    st.one_of(st.none(), st.sampled_from(["image/jpeg", "video/mp4", "audio/webm", "text/x"])),
    st.one_of(st.none(), st.sampled_from(["a.jpg", "b.mp4", "c", "d.exe", "e.txt"])),
)
def test_known_signatures_with_random_tails_only_ever_refuse_cleanly(
    magic: bytes, tail: bytes, declared: str | None, filename: str | None
) -> None:
    result = sniff(magic + tail)
    try:
        verdict = check_declared(result, declared, filename, EVIDENCE_KINDS)
    except UploadRefused as refused:
        assert refused.reason
    else:
        assert verdict.kind in EVIDENCE_KINDS and verdict.content_type
