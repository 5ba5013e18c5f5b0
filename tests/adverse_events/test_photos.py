"""Patient photos: content checked (not the name), size and pixel caps, metadata stripped,
stored privately under random names, and served to clinical staff of the clinic only."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from adverse_events import photos, services
from adverse_events.models import SubmissionPhoto
from adverse_events.photos import photo_prepare
from clinic.core.exceptions import RuleViolation
from patients.models import PatientAccess
from tests.adverse_events.patient_form_world import image_bytes, reaction, session_with_link


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.mark.parametrize(
    "fmt,content_type", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_jpeg_png_and_webp_are_accepted_by_their_content(fmt, content_type):
    # The name lies (".bin"); the bytes decide.
    prepared = photo_prepare(
        upload(image_bytes(fmt), name="x.bin", content_type="application/octet-stream")
    )
    assert prepared.content_type == content_type
    assert Image.open(io.BytesIO(prepared.content)).format == fmt


def test_a_non_image_with_an_image_name_is_refused():
    with pytest.raises(RuleViolation) as refused:
        photo_prepare(upload(b"%PDF-1.7 not a photo at all", name="rash.jpg"))
    assert refused.value.field == "photo"


def test_an_image_of_another_type_with_a_jpeg_name_is_refused():
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, format="GIF")
    with pytest.raises(RuleViolation):
        photo_prepare(upload(gif.getvalue(), name="rash.jpg"))


def test_a_truncated_jpeg_is_refused():
    with pytest.raises(RuleViolation):
        photo_prepare(upload(image_bytes("JPEG", size=(400, 300))[:200]))


def test_a_photo_over_10_mb_is_refused(monkeypatch):
    big = image_bytes("PNG") + b"\0" * (photos.MAX_BYTES + 1)
    with pytest.raises(RuleViolation) as refused:
        photo_prepare(upload(big, name="big.png"))
    assert "10 MB" in refused.value.message


def test_a_decompression_bomb_is_refused_before_decoding(monkeypatch):
    # A 7000 x 7000 PNG of one colour is a few kB on disk and 49 megapixels in memory.
    bomb = io.BytesIO()
    Image.new("L", (7000, 7000), 0).save(bomb, format="PNG", optimize=True)
    assert len(bomb.getvalue()) < 200_000
    with pytest.raises(RuleViolation) as refused:
        photo_prepare(upload(bomb.getvalue(), name="bomb.png"))
    assert "pixels" in refused.value.message


def test_exif_and_gps_are_stripped():
    original = image_bytes("JPEG", exif=True)
    assert Image.open(io.BytesIO(original)).getexif()  # the test photo does carry EXIF
    prepared = photo_prepare(upload(original))
    stored = Image.open(io.BytesIO(prepared.content))
    assert not stored.getexif()
    assert "exif" not in stored.info and "icc_profile" not in stored.info


def test_large_photos_are_scaled_down():
    prepared = photo_prepare(upload(image_bytes("JPEG", size=(4000, 3000))))
    assert max(prepared.width, prepared.height) == photos.MAX_SIDE


@pytest.fixture
def stored_photo(db, practitioner_a, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    reached = session_with_link(practitioner_a)
    prepared = photo_prepare(upload(image_bytes("JPEG", exif=True), name="IMG_0001 Jane Doe.jpg"))
    submission = services.submission_record(
        link=reached.link,
        submission_id=uuid.uuid4(),
        all_fine=False,
        reactions=[reaction("redness")],
        photo=prepared,
    ).submission
    return submission.photos.get(), tmp_path


def test_the_stored_file_has_a_random_name_and_no_exif(stored_photo):
    photo, root = stored_photo
    path = Path(root) / photo.image.name
    assert path.is_file()
    assert "jane" not in photo.image.name.lower() and "img_0001" not in photo.image.name.lower()
    assert photo.uuid.hex in photo.image.name
    assert not Image.open(path).getexif()


def test_the_default_storage_is_the_private_root_outside_static():
    private = Path(settings.STORAGES["default"]["OPTIONS"]["location"]).resolve()
    assert private == Path(settings.PRIVATE_MEDIA_ROOT).resolve()
    assert not private.is_relative_to(Path(settings.STATIC_ROOT).resolve())


def test_no_public_url_serves_the_stored_file(stored_photo, client):
    photo, _root = stored_photo
    for url in (
        f"/{photo.image.name}",
        f"/media/{photo.image.name}",
        f"/static/{photo.image.name}",
    ):
        assert client.get(url).status_code == 404, url


def test_a_practitioner_of_the_clinic_sees_the_photo_inline_and_uncached(
    stored_photo, practitioner_client, practitioner_a
):
    photo, _root = stored_photo
    response = practitioner_client.get(reverse("photos:show", kwargs={"uuid": photo.uuid}))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline")
    assert "no-store" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert Image.open(io.BytesIO(body)).format == "JPEG"
    assert PatientAccess.objects.filter(user=practitioner_a, action="photo_view").exists()


def test_front_desk_may_not_see_photos(stored_photo, front_desk_client):
    photo, _root = stored_photo
    response = front_desk_client.get(reverse("photos:show", kwargs={"uuid": photo.uuid}))
    assert response.status_code == 403


def test_another_clinic_gets_404_for_a_photo(stored_photo, outsider_client):
    photo, _root = stored_photo
    response = outsider_client.get(reverse("photos:show", kwargs={"uuid": photo.uuid}))
    assert response.status_code == 404


def test_an_unknown_photo_is_404(stored_photo, practitioner_client):
    response = practitioner_client.get(reverse("photos:show", kwargs={"uuid": uuid.uuid4()}))
    assert response.status_code == 404
    assert SubmissionPhoto.objects.count() == 1
