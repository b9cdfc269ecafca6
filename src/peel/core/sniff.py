"""What a file really is, judged from its first bytes, and whether Peel accepts it.

Files from the public and from partners are checked by content, never by the name or the
type a browser claims: hand-written signatures (easy to audit, no external service, no
third-party database) recognise photos, videos, sound recordings, PDF and plain text, and
refuse programs, scripts, archives (where zip bombs live) and markup that can carry scripts
(HTML, SVG). :func:`sniff` says what the bytes are; :func:`check_declared` decides whether
an upload is accepted for a purpose, refusing it when the bytes contradict what the sender
said the file was.

Give :func:`sniff` at least the first :data:`SNIFF_BYTES` bytes (or the whole file if it is
smaller); fewer bytes make some formats (MPEG transport streams, ZIP-based documents)
harder to tell apart.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

Kind = Literal["image", "video", "audio", "document", "text"]

#: How many leading bytes :func:`sniff` wants to see.
SNIFF_BYTES = 4096

#: What online crime reports accept: photos and videos.
REPORT_KINDS: frozenset[Kind] = frozenset({"image", "video"})
#: What digital evidence accepts: also sound recordings and PDF documents.
EVIDENCE_KINDS: frozenset[Kind] = frozenset({"image", "video", "audio", "document"})

KIND_ORDER: tuple[Kind, ...] = ("image", "video", "audio", "document", "text")
KIND_NOUNS: dict[str, str] = {
    "image": "photo",
    "video": "video",
    "audio": "sound recording",
    "document": "PDF document",
    "text": "plain text file",
}


class UploadRefused(ValueError):
    """Peel does not accept this file; ``reason`` is a sentence to show the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sniffed:
    """What the bytes are: a MIME type and kind, or the reason such files are refused."""

    content_type: str | None
    kind: Kind | None
    refused_reason: str | None = None

    @property
    def recognised(self) -> bool:
        return self.kind is not None and self.refused_reason is None


UNKNOWN = Sniffed(None, None)


def _refused(content_type: str, reason: str) -> Sniffed:
    return Sniffed(content_type, None, reason)


_PROGRAM = "Programs and scripts are not accepted."
_ARCHIVE = "Archives are not accepted: send the photos or videos themselves, one file at a time."
_MARKUP = "Web pages and drawings like this can carry hidden scripts, so they are not accepted."

# --- ISO base media (MP4, QuickTime, 3GP, HEIF/AVIF) brands ------------------------------

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis"}
_HEIC_SEQUENCE_BRANDS = {b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_MP4_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
    b"mp41", b"mp42", b"mp71", b"avc1", b"dash", b"f4v ", b"f4p ", b"MSNV", b"XAVC",
    b"mmp4", b"NDAS", b"NDSC", b"NDSH", b"NDSM", b"NDSP", b"NDSS", b"NDXC", b"NDXH",
    b"NDXM", b"NDXP", b"NDXS", b"CAEP", b"MP4 ", b"nvr1", b"hvc1", b"av01",
}  # fmt: skip
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def _brand_type(brand: bytes, compatible: list[bytes]) -> Sniffed | None:
    """The type an ISO base media file has, judged by one of its brands."""
    if brand in _HEIC_BRANDS:
        return Sniffed("image/heic", "image")
    if brand in _HEIC_SEQUENCE_BRANDS:
        return Sniffed("image/heic-sequence", "image")
    if brand in _AVIF_BRANDS:
        return Sniffed("image/avif", "image")
    if brand in _HEIF_BRANDS:
        if any(b in _AVIF_BRANDS for b in compatible):
            return Sniffed("image/avif", "image")
        if any(b in _HEIC_BRANDS for b in compatible):
            return Sniffed("image/heic", "image")
        return Sniffed("image/heif", "image")
    if brand == b"crx ":
        return Sniffed("image/x-canon-cr3", "image")
    if brand == b"qt  ":
        return Sniffed("video/quicktime", "video")
    if brand.startswith(b"3g2"):
        return Sniffed("video/3gpp2", "video")
    if brand[:3] in (b"3gp", b"3gs", b"3ge", b"3gg", b"3gr"):
        return Sniffed("video/3gpp", "video")
    if brand in _M4V_BRANDS:
        return Sniffed("video/x-m4v", "video")
    if brand in _M4A_BRANDS:
        return Sniffed("audio/mp4", "audio")
    if brand in _MP4_BRANDS:
        return Sniffed("video/mp4", "video")
    return None


def _iso_bmff(head: bytes) -> Sniffed | None:
    if len(head) < 12:
        return None
    box_type = head[4:8]
    if box_type == b"ftyp":
        size = struct.unpack(">I", head[:4])[0]
        if size < 12:
            return None
        major = head[8:12]
        end = min(size, len(head))
        compatible = [head[i : i + 4] for i in range(16, end - 3, 4)]
        found = _brand_type(major, compatible)
        if found is not None:
            return found
        for brand in compatible:
            found = _brand_type(brand, compatible)
            if found is not None:
                return found
        return None
    # Old QuickTime files start with a movie atom instead of ftyp; a small big-endian
    # size in front keeps text that happens to say "free" or "moov" from matching.
    if box_type in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot") and head[0] < 0x20:
        size = struct.unpack(">I", head[:4])[0]
        if size == 1 or size >= 8:
            return Sniffed("video/quicktime", "video")
    return None


# --- other containers ---------------------------------------------------------------------


def _riff(head: bytes) -> Sniffed | None:
    if head[:4] != b"RIFF" or len(head) < 12:
        return None
    form = head[8:12]
    if form == b"WEBP":
        return Sniffed("image/webp", "image")
    if form in (b"AVI ", b"AVIX"):
        return Sniffed("video/x-msvideo", "video")
    if form == b"WAVE":
        return Sniffed("audio/wav", "audio")
    return None


def _ebml(head: bytes) -> Sniffed | None:
    if head[:4] != b"\x1a\x45\xdf\xa3":
        return None
    if b"webm" in head[:64]:
        return Sniffed("video/webm", "video")
    return Sniffed("video/x-matroska", "video")


def _mpeg_ts(head: bytes) -> Sniffed | None:
    """Transport streams: a 0x47 sync byte every 188 bytes (192 for Blu-ray/AVCHD .m2ts)."""
    for packet, start in ((188, 0), (192, 4)):
        positions = range(start, len(head), packet)
        if len(head) - start < packet:
            continue
        if len(positions) < 2 and (len(head) - start) % packet != 0:
            continue
        if all(head[p] == 0x47 for p in positions):
            return Sniffed("video/mp2t", "video")
    return None


def _elementary_video(head: bytes) -> Sniffed | None:
    """MPEG program/elementary streams and raw H.264/H.265 as CCTV systems export them."""
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return Sniffed("video/mpeg", "video")
    if head[:4] == b"\x00\x00\x00\x01" and len(head) > 5:
        nal = head[4]
        if nal in (0x27, 0x47, 0x67, 0x09):  # sequence parameter set or access unit delimiter
            return Sniffed("video/h264", "video")
        if nal in (0x40, 0x46) and head[5] == 0x01:
            return Sniffed("video/h265", "video")
    return None


def _mp3(head: bytes) -> Sniffed | None:
    if head[:3] == b"ID3":
        return Sniffed("audio/mpeg", "audio")
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version = (head[1] >> 3) & 0x03
    layer = (head[1] >> 1) & 0x03
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0x03
    if layer == 0 and head[1] & 0xF6 == 0xF0:
        return Sniffed("audio/aac", "audio")  # ADTS
    if version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3:
        return Sniffed("audio/mpeg", "audio")
    return None


def _bmp(head: bytes) -> Sniffed | None:
    if head[:2] != b"BM" or len(head) < 18:
        return None
    reserved = head[6:10]
    data_offset, dib_size = struct.unpack("<II", head[10:18])
    if reserved == b"\0\0\0\0" and dib_size in (12, 40, 52, 56, 64, 108, 124) and data_offset >= 26:
        return Sniffed("image/bmp", "image")
    return None


# --- archives and programs ----------------------------------------------------------------


def _zip(head: bytes) -> Sniffed | None:
    if head[:4] not in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return None
    if b"AndroidManifest.xml" in head or b"classes.dex" in head:
        what = "an Android app (APK), which is a ZIP archive"
    elif b"META-INF/" in head and b".class" in head:
        what = "a Java program (JAR), which is a ZIP archive"
    elif b"[Content_Types].xml" in head or b"word/" in head or b"xl/" in head:
        what = "a Microsoft Office document (such as .docx or .xlsx), which is a ZIP archive"
    elif b"mimetypeapplication/vnd.oasis" in head:
        what = "an OpenDocument file, which is a ZIP archive"
    elif b"mimetypeapplication/epub" in head:
        what = "an e-book (EPUB), which is a ZIP archive"
    else:
        what = "a ZIP archive"
    return _refused("application/zip", f"This file is {what}. {_ARCHIVE}")


_ARCHIVES: tuple[tuple[bytes, str, str], ...] = (
    (b"Rar!\x1a\x07", "application/vnd.rar", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed", "a 7-Zip archive"),
    (b"\x1f\x8b", "application/gzip", "a gzip-compressed file"),
    (b"\x1f\x9d", "application/x-compress", "a compressed (.Z) file"),
    (b"BZh", "application/x-bzip2", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "application/x-xz", "an xz-compressed file"),
    (b"\x28\xb5\x2f\xfd", "application/zstd", "a Zstandard-compressed file"),
    (b"\x04\x22\x4d\x18", "application/x-lz4", "an LZ4-compressed file"),
    (b"LZIP", "application/x-lzip", "an lzip-compressed file"),
    (b"MSCF", "application/vnd.ms-cab-compressed", "a Windows cabinet (.cab) archive"),
    (b"!<arch>\n", "application/x-archive", "an ar archive or software package"),
)

_PROGRAMS: tuple[tuple[bytes, str, str], ...] = (
    (b"MZ", "application/vnd.microsoft.portable-executable", "a Windows program (.exe or .dll)"),
    (b"\x7fELF", "application/x-executable", "a Linux or Unix program (ELF)"),
    (b"\xfe\xed\xfa\xce", "application/x-mach-binary", "a macOS program (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "application/x-mach-binary", "a macOS program (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "application/x-mach-binary", "a macOS program (Mach-O)"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary", "a macOS program (Mach-O)"),
    (
        b"\xca\xfe\xba\xbe",
        "application/x-mach-binary",
        "a program (a macOS universal binary or a Java class)",
    ),
    (b"\x00asm", "application/wasm", "a WebAssembly program"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", "application/x-ms-shortcut", "a Windows shortcut (.lnk)"),
    (b"dex\n", "application/x-dex", "an Android program (DEX)"),
)


def _archive_or_program(head: bytes) -> Sniffed | None:
    zipped = _zip(head)
    if zipped is not None:
        return zipped
    for magic, content_type, what in _ARCHIVES:
        if head.startswith(magic):
            return _refused(content_type, f"This file is {what}. {_ARCHIVE}")
    if len(head) >= 262 and head[257:262] == b"ustar":
        return _refused("application/x-tar", f"This file is a tar archive. {_ARCHIVE}")
    for magic, content_type, what in _PROGRAMS:
        if head.startswith(magic):
            return _refused(content_type, f"This file is {what}. {_PROGRAM}")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _refused(
            "application/x-ole-storage",
            "This file is an older Microsoft Office document or installer (such as .doc, .xls "
            "or .msi), which can carry macros. Save documents as PDF before sending them.",
        )
    return None


# --- text and markup ----------------------------------------------------------------------

# Bytes that never appear in text (everything below space except tab, LF, FF, CR and ESC).
_CONTROL = frozenset([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
# Bytes Windows-1252 leaves undefined.
_CP1252_HOLES = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})

_HTML_STARTS = (
    "<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div", "<font",
    "<table", "<a", "<style", "<title", "<b", "<body", "<br", "<p", "<!--",
)  # fmt: skip
_MARKUP_ANYWHERE = ("<svg", "<html", "<script", "<!doctype html", "xhtml", "<iframe", "<xsl")


def _decode_text(head: bytes) -> str | None:
    """The head as text if it looks like text (UTF-8, UTF-16 with a BOM, or Windows-1252)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        body = head[2:]
        text = body[: len(body) - len(body) % 2].decode(encoding, errors="replace")
        if any(ord(c) < 0x20 and c not in "\t\n\x0c\r\x1b" for c in text):
            return None
        return text
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    if any(b in _CONTROL for b in head):
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(head, final=False)  # a cut multi-byte character is fine
    except UnicodeDecodeError:
        pass
    if any(b in _CP1252_HOLES for b in head):
        return None
    return head.decode("cp1252")


def _tag_start(text: str, pattern: str) -> bool:
    if not text.startswith(pattern):
        return False
    rest = text[len(pattern) : len(pattern) + 1]
    return pattern == "<!--" or rest in (" ", ">", "\t", "\n", "\r", "\x0c", "/")


def _text(head: bytes) -> Sniffed | None:
    text = _decode_text(head)
    if text is None:
        return None
    stripped = text.lstrip(" \t\n\r\x0c\ufeff")
    lowered = stripped[:SNIFF_BYTES].lower()
    if lowered.startswith("<?php") or lowered.startswith("<%"):
        return _refused("application/x-httpd-php", f"This file is a server script. {_PROGRAM}")
    if lowered.startswith("<svg") or (
        lowered.startswith("<") and "<svg" in lowered and "<html" not in lowered
    ):
        return _refused("image/svg+xml", f"This file is an SVG drawing. {_MARKUP}")
    if any(_tag_start(lowered, p) for p in _HTML_STARTS) or (
        lowered.startswith("<") and any(m in lowered for m in _MARKUP_ANYWHERE)
    ):
        return _refused("text/html", f"This file is a web page (HTML). {_MARKUP}")
    if lowered.startswith("%!ps"):
        return _refused(
            "application/postscript",
            "This file is a PostScript document, which can contain programs. Save it as PDF.",
        )
    if lowered.startswith("{\\rtf"):
        return _refused(
            "application/rtf",
            "This file is a Rich Text document, which can hide embedded objects. Save it as PDF.",
        )
    if lowered.startswith("<?xml"):
        return Sniffed("application/xml", "text")
    return Sniffed("text/plain", "text")


# --- the entry point ----------------------------------------------------------------------

_SIMPLE: tuple[tuple[bytes, str, Kind], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", "image"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "image"),
    (b"GIF87a", "image/gif", "image"),
    (b"GIF89a", "image/gif", "image"),
    (b"II*\x00", "image/tiff", "image"),
    (b"MM\x00*", "image/tiff", "image"),
    (b"II+\x00", "image/tiff", "image"),
    (b"\xff\x0a", "image/jxl", "image"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "image/jxl", "image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image/jp2", "image"),
    (b"FLV\x01", "video/x-flv", "video"),
    (b"0&\xb2u\x8ef\xcf\x11\xa6\xd9\x00\xaa\x00b\xcel", "video/x-ms-asf", "video"),
    (b"fLaC", "audio/flac", "audio"),
    (b"#!AMR", "audio/amr", "audio"),
    (b"%PDF-", "application/pdf", "document"),
)


def sniff(head: bytes) -> Sniffed:
    """Say what a file is from its first bytes; never raises, whatever the bytes."""
    head = bytes(head[:SNIFF_BYTES])
    if not head:
        return UNKNOWN
    for magic, content_type, kind in _SIMPLE:
        if head.startswith(magic):
            return Sniffed(content_type, kind)
    if head.startswith(b"OggS"):
        if b"\x80theora" in head or b"\x01video" in head:
            return Sniffed("video/ogg", "video")
        return Sniffed("audio/ogg", "audio")
    for detector in (_iso_bmff, _riff, _ebml, _bmp):
        found = detector(head)
        if found is not None:
            return found
    found = _archive_or_program(head)
    if found is not None:
        return found
    if head.startswith(b"#!"):
        return _refused(
            "text/x-shellscript", f"This file is a script (it starts with #!). {_PROGRAM}"
        )
    for detector in (_mpeg_ts, _elementary_video, _mp3, _text):
        found = detector(head)
        if found is not None:
            return found
    return UNKNOWN


# --- what the sender said -----------------------------------------------------------------

_REFUSED_TYPES = {
    "text/html": "a web page (HTML)",
    "application/xhtml+xml": "a web page (XHTML)",
    "image/svg+xml": "an SVG drawing",
    "application/javascript": "a script",
    "text/javascript": "a script",
    "application/x-sh": "a script",
    "application/x-msdownload": "a Windows program",
    "application/x-msdos-program": "a Windows program",
    "application/vnd.microsoft.portable-executable": "a Windows program",
    "application/x-executable": "a program",
    "application/x-msi": "an installer",
    "application/java-archive": "a Java program",
    "application/vnd.android.package-archive": "an Android app",
    "application/zip": "a ZIP archive",
    "application/x-zip-compressed": "a ZIP archive",
    "application/vnd.rar": "a RAR archive",
    "application/x-rar-compressed": "a RAR archive",
    "application/x-7z-compressed": "a 7-Zip archive",
    "application/gzip": "a compressed file",
    "application/x-gzip": "a compressed file",
    "application/x-tar": "a tar archive",
    "application/x-bzip2": "a compressed file",
    "application/x-xz": "a compressed file",
    "application/zstd": "a compressed file",
}


def _words(text: str) -> list[str]:
    return text.split()


_EXTENSION_KINDS: dict[str, Kind] = {
    **dict.fromkeys(
        _words("jpg jpeg jpe jfif png gif webp heic heif hif avif tif tiff bmp jxl jp2 dng cr3"),
        "image",
    ),
    **dict.fromkeys(
        _words(
            "mp4 m4v mov qt 3gp 3g2 webm mkv avi ts mts m2ts mpg mpeg vob flv wmv asf h264 264 "
            "h265 265 hevc ogv"
        ),
        "video",
    ),
    **dict.fromkeys(_words("mp3 wav m4a aac ogg oga opus flac amr"), "audio"),
    "pdf": "document",
    **dict.fromkeys(_words("txt text csv log md"), "text"),
}

_REFUSED_EXTENSIONS = frozenset(
    _words(
        "exe dll com scr pif bat cmd msi msp msc ps1 psm1 psd1 vbs vbe js jse mjs wsf wsh hta lnk "
        "cpl reg inf scf url jar class apk dex app dmg pkg iso img vhd vhdx sh bash zsh csh ksh py "
        "pyc pl rb php phtml asp aspx jsp cgi zip zipx rar 7z gz tgz bz2 tbz xz txz zst lz4 lzma "
        "tar cab arj ace z html htm xhtml shtml mht mhtml svg svgz docm xlsm pptm dotm xltm"
    )
)

# Containers whose bytes do not say whether they hold pictures and sound or sound alone.
_AUDIO_OR_VIDEO = {
    "video/webm": "audio/webm",
    "video/x-matroska": "audio/x-matroska",
    "video/mp4": "audio/mp4",
    "video/3gpp": "audio/3gpp",
    "video/3gpp2": "audio/3gpp2",
    "video/ogg": "audio/ogg",
    "video/x-ms-asf": "audio/x-ms-wma",
    "video/mp2t": "audio/mp2t",
}


def kinds_phrase(kinds: Iterable[str]) -> str:
    """'photo or video', 'photo, video or PDF document'."""
    nouns = [KIND_NOUNS[k] for k in KIND_ORDER if k in set(kinds)]
    if not nouns:
        return "file"
    if len(nouns) == 1:
        return nouns[0]
    return ", ".join(nouns[:-1]) + " or " + nouns[-1]


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiouAEIOU" else "a ") + noun


def base_type(content_type: str | None) -> str:
    """``'Image/JPEG; q=1'`` → ``'image/jpeg'``; empty for nothing."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def declared_kind(content_type: str | None) -> Kind | None:
    """The kind a declared MIME type claims, or None if it claims nothing in particular."""
    declared = base_type(content_type)
    if declared == "application/pdf":
        return "document"
    top = declared.split("/", 1)[0]
    if top in ("image", "video", "audio", "text"):
        return top  # type: ignore[return-value]
    return None


def extension_of(filename: str | None) -> str:
    """The lower-case extension of a (possibly path-like) file name, without the dot."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip().rstrip(".")
    if "." not in name:
        return ""
    return name.rsplit(".", 1)[1].lower()


def check_claims(
    declared_content_type: str | None,
    filename: str | None,
    allowed_kinds: Iterable[str] = REPORT_KINDS,
) -> tuple[Kind | None, Kind | None]:
    """Refuse, before any bytes arrive, what the declared type or file name already rules out.

    Returns the kinds the declared type and the extension claim (None where they claim
    nothing) so :func:`check_declared` can compare them with the bytes.
    """
    allowed = frozenset(allowed_kinds)
    accepted = kinds_phrase(allowed)
    declared = base_type(declared_content_type)
    if declared in _REFUSED_TYPES:
        raise UploadRefused(
            f"The file is described as {_REFUSED_TYPES[declared]} ({declared}), which is not "
            f"accepted. Send {_article(accepted)}."
        )
    extension = extension_of(filename)
    if extension in _REFUSED_EXTENSIONS:
        raise UploadRefused(
            f"Files ending in .{extension} are not accepted. Send {_article(accepted)}."
        )
    by_type = declared_kind(declared)
    by_extension = _EXTENSION_KINDS.get(extension)
    for claimed, source in (
        (by_type, f"described as {declared}"),
        (by_extension, f"named .{extension}"),
    ):
        if claimed is not None and claimed not in allowed:
            raise UploadRefused(
                f"The file is {source}, {_article(KIND_NOUNS[claimed])}; only "
                f"{_article(accepted)} can be sent here."
            )
    if (
        by_type is not None
        and by_extension is not None
        and by_type != by_extension
        and {by_type, by_extension} != {"audio", "video"}
    ):
        raise UploadRefused(
            f"The file is named .{extension} but described as {declared}; these do not agree."
        )
    return by_type, by_extension


def check_declared(
    sniffed: Sniffed,
    declared_content_type: str | None,
    filename: str | None,
    allowed_kinds: Iterable[str] = REPORT_KINDS,
) -> Sniffed:
    """Accept the file, or raise :class:`UploadRefused` saying why not.

    The bytes decide what the file is. It is refused when they are of a refused type or
    unknown, of a kind the caller does not accept, or of a different kind (photo, video,
    sound, document, text) from the one its declared type or extension claims; a photo
    declared ``image/jpeg`` whose bytes are PNG is fine, a "photo" whose bytes are a video is
    not. Returns the verdict to store (a container that may hold sound only, such as WebM,
    takes the audio kind when the sender said it was audio).
    """
    allowed = frozenset(allowed_kinds)
    accepted = kinds_phrase(allowed)
    if sniffed.refused_reason:
        raise UploadRefused(sniffed.refused_reason)
    if sniffed.kind is None or sniffed.content_type is None:
        raise UploadRefused(f"We could not recognise this file as {_article(accepted)}.")
    by_type, by_extension = check_claims(declared_content_type, filename, allowed)
    verdict = sniffed
    audio_alias = _AUDIO_OR_VIDEO.get(sniffed.content_type)
    if (
        audio_alias
        and "audio" in (by_type, by_extension)
        and "image" not in (by_type, by_extension)
    ):
        verdict = Sniffed(audio_alias, "audio")
    actual = verdict.kind
    assert actual is not None
    noun = KIND_NOUNS[actual]
    for claimed, source in (
        (by_type, f"described as {base_type(declared_content_type)}"),
        (by_extension, f"named .{extension_of(filename)}"),
    ):
        if claimed is None or claimed == actual:
            continue
        if audio_alias and {claimed, actual} == {"audio", "video"}:
            continue
        raise UploadRefused(
            f"The file is {source} but its content is {_article(noun)} "
            f"({verdict.content_type}). Check you chose the right file."
        )
    if actual not in allowed:
        raise UploadRefused(
            f"This file is {_article(noun)} ({verdict.content_type}); only "
            f"{_article(accepted)} can be sent here."
        )
    declared = base_type(declared_content_type)
    if verdict.content_type == "text/plain" and declared.startswith("text/"):
        verdict = replace(verdict, content_type=declared)
    return verdict
