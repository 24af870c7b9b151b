"""Operator commands around Rekognition: start and stop the face-search stream processors (Terraform
creates them stopped; they bill per minute of video while running), and enrol faces into a collection
(IndexFaces, one face per image, the ExternalImageId naming the person)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_rekognition.client import RekognitionClient

# Rekognition: ExternalImageId pattern and length; image bytes at most 5 MB, JPEG or PNG.
EXTERNAL_ID = re.compile(r"^[a-zA-Z0-9_.\-:]{1,255}$")
MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

STARTABLE = {"STOPPED", "FAILED"}
STOPPABLE = {"RUNNING", "STARTING"}


def transitions(statuses: dict[str, str], action: str) -> tuple[list[str], dict[str, str]]:
    """Which processors to call for `action` (start|stop), and why the others are left as they are."""
    wanted = STARTABLE if action == "start" else STOPPABLE
    act = sorted(name for name, status in statuses.items() if status in wanted)
    skip = {name: status for name, status in statuses.items() if status not in wanted}
    return act, skip


def processor_statuses(client: RekognitionClient, prefix: str) -> dict[str, str]:
    names: list[str] = []
    token: str | None = None
    while True:
        page = client.list_stream_processors(NextToken=token) if token else client.list_stream_processors()
        names += [p["Name"] for p in page.get("StreamProcessors", []) if p["Name"].startswith(prefix)]
        token = page.get("NextToken")
        if not token:
            break
    return {name: client.describe_stream_processor(Name=name)["Status"] for name in names}


def apply(client: RekognitionClient, action: str, names: Iterable[str]) -> None:
    call = client.start_stream_processor if action == "start" else client.stop_stream_processor
    for name in names:
        call(Name=name)


# Enrolment. A file name, a path and an ExternalImageId name a person (biometric personal data): what is
# printed or logged at info names an input by its position ("image 3", "line 4") and says what is wrong;
# the path and the id go to debug at most (Problem.detail).


@dataclass(frozen=True)
class Enrolment:
    path: Path
    external_image_id: str
    where: str = ""  # "image 3" (folder, in name order) or "line 4" (CSV, the header is line 1)


@dataclass(frozen=True)
class Problem:
    where: str  # which input, by position: "image 3", "line 4", "the CSV header", "--folder"
    reason: str  # what is wrong and the fix, naming no file and no person
    detail: str  # the same with the path and the id: debug level only


@dataclass
class EnrolPlan:
    items: list[Enrolment] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """The detail of every problem ("<path>: <what is wrong and the fix>"): debug level only."""
        return [problem.detail for problem in self.rejected]


def _check(path: Path, external_id: str, plan: EnrolPlan, where: str) -> None:
    def reject(reason: str, detail: str) -> None:
        plan.rejected.append(Problem(where, reason, f"{path}: {detail}"))

    if not path.is_file():
        reject("no such file", "no such file")
    elif path.suffix.lower() not in IMAGE_SUFFIXES:
        reason = "not a JPEG or PNG (Rekognition reads only those)"
        reject(reason, reason)
    elif path.stat().st_size > MAX_IMAGE_BYTES:
        reason = f"{path.stat().st_size} bytes; at most 5 MB, resize it"
        reject(reason, reason)
    elif not EXTERNAL_ID.match(external_id):
        rule = "may hold only letters, digits and _ . - : (1-255)"
        reject(f"the external id {rule}", f"external id {external_id!r} {rule}")
    else:
        plan.items.append(Enrolment(path, external_id, where))


def plan_from_folder(folder: Path, id_prefix: str = "") -> EnrolPlan:
    """Every image in the folder; the file name without its suffix is the person's external id.
    Files are numbered in name order ("image 3"), hidden files left out."""
    plan = EnrolPlan()
    if not folder.is_dir():
        plan.rejected.append(Problem("--folder", "not a folder", f"{folder}: not a folder"))
        return plan
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for number, path in enumerate(files, 1):
        _check(path, id_prefix + path.stem, plan, f"image {number}")
    return plan


def plan_from_csv(file: Path, id_prefix: str = "") -> EnrolPlan:
    """A CSV with the columns `path` (relative to the CSV) and `external_image_id`. Rows are named by
    their line in the file ("line 4"; the header is line 1)."""
    plan = EnrolPlan()
    with file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "external_image_id"} - set(reader.fieldnames or [])
        if missing:
            reason = f"missing column(s) {', '.join(sorted(missing))}; the header must name path and external_image_id"
            plan.rejected.append(Problem("the CSV header", reason, f"{file}: {reason}"))
            return plan
        for line, row in enumerate(reader, 2):
            if not row["path"] or not row["external_image_id"]:
                reason = "empty path or external_image_id"
                plan.rejected.append(Problem(f"line {line}", reason, f"{file}:{line}: {reason}"))
                continue
            _check(
                (file.parent / row["path"]).resolve(),
                id_prefix + row["external_image_id"].strip(),
                plan,
                f"line {line}",
            )
    return plan


# IndexFaces errors that concern one image: that image is refused, the others are still enrolled. Any
# other error (no such collection, access denied, throttled after the client's retries, a quota) would
# fail every image alike: enrolment stops there.
IMAGE_ERRORS = {
    "InvalidImageFormatException": "Rekognition cannot decode the image; save it again as JPEG or PNG",
    "ImageTooLargeException": "the image is too large for Rekognition (at most 5 MB, 15 megapixels)",
    "InvalidParameterException": "Rekognition refused the request for this image (e.g. smaller than 80 pixels)",
}


@dataclass
class EnrolResult:
    indexed: int = 0
    no_face: list[Problem] = field(default_factory=list)
    several_faces: list[Problem] = field(default_factory=list)  # indexed: the largest face
    refused: list[Problem] = field(default_factory=list)  # IndexFaces refused the image or it could not be read


class EnrolStopped(RuntimeError):
    """Enrolment stopped before the end; the message names no file and no person."""

    def __init__(self, message: str, result: EnrolResult) -> None:
        super().__init__(message)
        self.result = result


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__


def enrol(client: RekognitionClient, collection_id: str, plan: EnrolPlan, log: Any = None) -> EnrolResult:
    """IndexFaces for every planned image: the largest face only (MaxFaces=1), Rekognition's quality filter.

    Paths, external ids and face ids are logged at debug only; everything else names an image by its
    position. Raises EnrolStopped (with what was done so far) on an error that is not about one image."""
    from botocore.exceptions import BotoCoreError, ClientError

    from worker.logs import get_logger

    log = log or get_logger()
    result = EnrolResult()
    total = len(plan.items)
    for number, item in enumerate(plan.items, 1):
        try:
            image = item.path.read_bytes()
        except OSError as exc:
            result.refused.append(
                Problem(
                    item.where, f"cannot read the file ({exc.strerror or type(exc).__name__})", f"{item.path}: {exc}"
                )
            )
            log.debug("enrol_unreadable", where=item.where, path=str(item.path), error=str(exc))
            continue
        try:
            response = client.index_faces(
                CollectionId=collection_id,
                Image={"Bytes": image},
                ExternalImageId=item.external_image_id,
                MaxFaces=1,
                QualityFilter="AUTO",
                DetectionAttributes=[],
            )
        except ClientError as exc:
            code = _error_code(exc)
            log.debug(
                "enrol_index_faces_failed",
                where=item.where,
                path=str(item.path),
                external_image_id=item.external_image_id,
                code=code,
                error=str(exc),
            )
            if code in IMAGE_ERRORS:
                result.refused.append(Problem(item.where, f"{code}: {IMAGE_ERRORS[code]}", f"{item.path}: {exc}"))
                continue
            raise EnrolStopped(
                f"IndexFaces failed at {item.where} ({number} of {total} to enrol; {code});"
                f" {result.indexed} indexed before it; the error's message is logged at debug"
                f" (FACEWATCH_LOG_LEVEL=debug)",
                result,
            ) from None
        except BotoCoreError as exc:
            log.debug("enrol_index_faces_failed", where=item.where, path=str(item.path), error=str(exc))
            # Only the class at info: a parameter validation message may quote a value (an id).
            raise EnrolStopped(
                f"IndexFaces failed at {item.where} ({number} of {total} to enrol;"
                f" {type(exc).__name__}); {result.indexed} indexed before it; the error's message is logged at debug"
                f" (FACEWATCH_LOG_LEVEL=debug)",
                result,
            ) from None
        records = response.get("FaceRecords") or []
        unindexed = response.get("UnindexedFaces") or []
        if records:
            result.indexed += 1
            face = records[0].get("Face", {})
            log.debug(
                "enrol_indexed",
                where=item.where,
                path=str(item.path),
                external_image_id=item.external_image_id,
                face_id=face.get("FaceId"),
            )
            if unindexed:
                result.several_faces.append(
                    Problem(
                        item.where,
                        f"{len(unindexed) + 1} faces, the largest indexed",
                        f"{item.path}: {len(unindexed) + 1} faces",
                    )
                )
        else:
            reasons = sorted({r for face in unindexed for r in face.get("Reasons", [])})
            why = f" (Rekognition: {', '.join(reasons)})" if reasons else ""
            result.no_face.append(Problem(item.where, f"no face indexed{why}", f"{item.path}: no face indexed{why}"))
            log.debug("enrol_no_face", where=item.where, path=str(item.path), reasons=reasons)
    return result
