"""`enrol` names no person at info level: no file name, path, ExternalImageId or face id on stdout,
stderr or in the logs; images are named by position ("image 3", "line 4"), the detail is debug only.

Rekognition is a tiny fake (there is no local Rekognition); the command runs as `python -m worker enrol`.
"""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from botocore.exceptions import ClientError

from worker import aws
from worker.__main__ import main

JPEG = b"\xff\xd8\xff\xe0fake jpeg"
PNG = b"\x89PNG\r\n\x1a\nfake png"


class FakeRekognition:
    """IndexFaces answers by ExternalImageId, as shaped like the real responses (they echo the ids)."""

    def __init__(self, behaviour: dict[str, str]) -> None:
        self.behaviour = behaviour
        self.calls: list[str] = []

    def index_faces(self, CollectionId, Image, ExternalImageId, **kw):  # noqa: N803 - boto3's names
        self.calls.append(ExternalImageId)
        what = self.behaviour.get(ExternalImageId.removeprefix("wl_"), "one")
        face = {
            "FaceId": f"face-id-of-{ExternalImageId}",
            "ExternalImageId": ExternalImageId,
            "ImageId": f"image-id-of-{ExternalImageId}",
        }
        if what in ("bad_format", "denied"):
            code = "InvalidImageFormatException" if what == "bad_format" else "AccessDeniedException"
            # AWS messages may quote the request's values: they must not reach info level either.
            raise ClientError({"Error": {"Code": code, "Message": f"bad request for {ExternalImageId}"}}, "IndexFaces")
        if what == "none":
            return {"FaceRecords": [], "UnindexedFaces": [{"Reasons": ["LOW_SHARPNESS"], "FaceDetail": {}}]}
        unindexed = [{"Reasons": ["EXCEEDS_MAX_FACES"], "FaceDetail": {}}] * (2 if what == "several" else 0)
        return {"FaceRecords": [{"Face": face, "FaceDetail": {}}], "UnindexedFaces": unindexed}


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .run/stack.env
    for name in ("FACEWATCH_LOG_LEVEL", "FACEWATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.lastResort)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.lastResort = saved[2]
    structlog.reset_defaults()


@pytest.fixture
def faces(tmp_path):
    folder = tmp_path / "faces-of-staff"
    folder.mkdir()
    (folder / "bad name carol.jpg").write_bytes(JPEG)  # image 1: an id Rekognition would refuse
    (folder / "corrupt-mary.jpg").write_bytes(JPEG)  # image 2: IndexFaces refuses the image
    (folder / "group-photo-anna.jpg").write_bytes(JPEG)  # image 3: several faces
    (folder / "jane-doe-4711.jpg").write_bytes(JPEG)  # image 4: one face
    (folder / "john.smith.png").write_bytes(PNG)  # image 5: no face indexed
    (folder / "notes-about-bob.txt").write_text("x")  # image 6: not an image
    client = FakeRekognition({"corrupt-mary": "bad_format", "group-photo-anna": "several", "john.smith": "none"})
    secrets = [
        "bad name carol",
        "carol",
        "corrupt-mary",
        "group-photo-anna",
        "jane-doe",
        "4711",
        "john.smith",
        "notes-about-bob",
        "faces-of-staff",
        "face-id",
        "image-id",
        str(tmp_path),
    ]
    return folder, client, secrets


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s.lower() in text.lower()]


def test_enrol_prints_counts_and_positions_only(faces, monkeypatch, capfd):
    folder, client, secrets = faces
    monkeypatch.setattr(aws, "rekognition", lambda cfg: client)

    code = main(["enrol", "--collection", "facewatch-faces", "--folder", str(folder), "--watchlist"])
    out, err = capfd.readouterr()

    assert code == 1  # something was skipped or refused
    assert len(client.calls) == 4 and all(c.startswith("wl_") for c in client.calls)
    assert _leaks(out + err, secrets) == [], f"stdout:\n{out}\nstderr:\n{err}"
    assert out.splitlines() == [
        "4 image(s) to enrol into facewatch-faces as watchlist faces, 2 skipped",
        "indexed 2; no face found in 1; several faces (largest kept) in 1; refused by Rekognition 1",
    ]
    assert "skipped image 1: the external id may hold only letters" in err
    assert "skipped image 6: not a JPEG or PNG" in err
    assert "refused: image 2: InvalidImageFormatException" in err
    assert "no face: image 5: no face indexed (Rekognition: LOW_SHARPNESS)" in err
    assert "several faces: image 3: 3 faces, the largest indexed" in err


def test_a_stopping_error_names_the_row_not_the_person(tmp_path, monkeypatch, capfd):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "peter-parker.jpg").write_bytes(JPEG)
    (tmp_path / "img" / "mary-jane.jpg").write_bytes(JPEG)
    people = tmp_path / "people.csv"
    people.write_text(
        "path,external_image_id\n"
        "img/peter-parker.jpg,emp-peter-parker\n"  # line 2: indexed
        "img/missing-gwen.jpg,emp-gwen-stacy\n"  # line 3: no such file
        ",emp-harry-osborn\n"  # line 4: empty path
        "img/mary-jane.jpg,emp-mary-jane\n"
    )  # line 5: access denied: stop
    client = FakeRekognition({"emp-mary-jane": "denied"})
    monkeypatch.setattr(aws, "rekognition", lambda cfg: client)

    code = main(["enrol", "--collection", "c1", "--csv", str(people)])
    out, err = capfd.readouterr()

    assert code == 1
    secrets = [
        "peter",
        "parker",
        "gwen",
        "stacy",
        "harry",
        "osborn",
        "mary-jane",
        "people.csv",
        "face-id",
        str(tmp_path),
    ]
    assert _leaks(out + err, secrets) == [], f"stdout:\n{out}\nstderr:\n{err}"
    assert "skipped line 3: no such file" in err and "skipped line 4: empty path or external_image_id" in err
    assert "IndexFaces failed at line 5 (2 of 2 to enrol; AccessDeniedException); 1 indexed before it" in err
    assert "indexed 1; no face found in 0; refused by Rekognition 0; stopped" in out


def test_a_dry_run_calls_nothing_and_names_nobody(faces, monkeypatch, capfd):
    folder, _, secrets = faces

    def no_client(cfg):
        raise AssertionError("a dry run must not call Rekognition")

    monkeypatch.setattr(aws, "rekognition", no_client)
    assert main(["enrol", "--collection", "c1", "--folder", str(folder), "--dry-run"]) == 1
    out, err = capfd.readouterr()
    assert _leaks(out + err, secrets) == []
    assert out == "4 image(s) to enrol into c1, 2 skipped\n"


def test_the_detail_is_in_debug_lines_only(faces, monkeypatch, capfd):
    folder, client, secrets = faces
    monkeypatch.setattr(aws, "rekognition", lambda cfg: client)
    monkeypatch.setenv("FACEWATCH_LOG_LEVEL", "debug")

    main(["enrol", "--collection", "c1", "--folder", str(folder)])
    out, err = capfd.readouterr()

    assert _leaks(out, secrets) == []
    debug_lines = 0
    for line in err.splitlines():
        if not _leaks(line, secrets):
            continue
        record = json.loads(line)  # a line that names someone is a JSON log line at debug level
        assert record["level"] == "debug", line
        debug_lines += 1
    assert debug_lines >= 6
    assert "face-id-of-jane-doe-4711" in err  # the face id of an indexed image, at debug only
