"""Patient photos: checked by content, re-encoded without metadata, capped against bombs.

A phone's photo carries EXIF (often GPS) and may be anything with an image file name. We
trust neither the name nor the browser's content type: Pillow identifies the format from the
bytes, refuses anything but JPEG, PNG or WebP, refuses images above `MAX_PIXELS` before
decoding them (a small file can declare a huge canvas: a decompression bomb), and writes a
fresh file from the decoded pixels only, so no EXIF, GPS, ICC or comment survives.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

from clinic.core.exceptions import RuleViolation

MAX_BYTES = 10 * 1024 * 1024
# 40 megapixels: above any phone camera's normal output, far below a bomb.
MAX_PIXELS = 40_000_000
# Stored photos are scaled down to this longest side: plenty for a clinician, small on disk.
MAX_SIDE = 2560

ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class PreparedPhoto:
    """A re-encoded photo, ready to store: bytes without metadata and their facts."""

    content: bytes
    content_type: str
    width: int
    height: int

    @property
    def size_bytes(self) -> int:
        return len(self.content)


# Why a photo was refused, by reason: the reason (not the sentence) is what a page keeps, so
# the patient reads it in the language the page is shown in, even after switching.
REFUSALS = {
    "too_large": _("The photo is too large: the limit is 10 MB."),
    "empty": _("The photo file is empty. Choose the photo again."),
    "not_a_photo": _("This file is not a photo we can read. Send a JPEG, PNG or WebP photo."),
    "too_many_pixels": _("The photo has too many pixels. Send a smaller photo."),
}


class PhotoRefused(RuleViolation):
    """A photo we cannot keep; `reason` is a key of REFUSALS."""

    def __init__(self, reason: str):
        super().__init__(str(REFUSALS[reason]), field="photo", code="photo_refused")
        self.reason = reason


def refusal_message(reason: str | None) -> str:
    """The sentence for a refusal reason, in the active language ("" for an unknown one)."""
    return str(REFUSALS[reason]) if reason in REFUSALS else ""


def refusal_reason_of_form_error(code: str | None) -> str:
    """The refusal reason for a Django FileField error code (e.g. "empty")."""
    return "empty" if code == "empty" else "not_a_photo"


def _refuse(reason: str) -> PhotoRefused:
    return PhotoRefused(reason)


def photo_prepare(upload: UploadedFile) -> PreparedPhoto:
    """Check an uploaded photo and re-encode it; PhotoRefused (a RuleViolation with
    field="photo" and its `reason`) if refused."""
    if upload.size is not None and upload.size > MAX_BYTES:
        raise _refuse("too_large")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _refuse("too_large")
    if not data:
        raise _refuse("empty")
    try:
        with warnings.catch_warnings():
            # Pillow warns (then errors) above its own cap; we apply ours first, explicitly.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            image_format = probe.format
            width, height = probe.size
            if image_format not in ALLOWED:
                raise _refuse("not_a_photo")
            if width * height > MAX_PIXELS:
                raise _refuse("too_many_pixels")
            probe.verify()  # structure check; the object cannot be used after this
            image = Image.open(io.BytesIO(data))
            image.load()
    except PhotoRefused:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _refuse("too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _refuse("not_a_photo") from exc
    return _reencode(image, image_format)


def _reencode(image: Image.Image, image_format: str) -> PreparedPhoto:
    # Turn the pixels as the camera meant (EXIF orientation), then forget every byte of
    # metadata: the stored file is built from the pixels alone (no EXIF, GPS, ICC, text).
    image = ImageOps.exif_transpose(image)
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if has_alpha and image_format != "JPEG" else "RGB"
    pixels = image.convert(mode)
    clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if image_format == "PNG":
        clean.save(out, format="PNG", optimize=True)
    elif image_format == "WEBP":
        clean.save(out, format="WEBP", quality=85)
    else:
        clean.save(out, format="JPEG", quality=85, optimize=True)
    return PreparedPhoto(
        content=out.getvalue(),
        content_type=ALLOWED[image_format],
        width=clean.size[0],
        height=clean.size[1],
    )
