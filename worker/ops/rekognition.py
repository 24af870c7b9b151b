"""Operator commands around Rekognition: start and stop the face-search stream processors (Terraform
creates them stopped; they bill per minute of video while running), and enrol faces into a collection
(IndexFaces, one face per image, the ExternalImageId naming the person)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

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


def processor_statuses(client: Any, prefix: str) -> dict[str, str]:
    names: list[str] = []
    token: str | None = None
    while True:
        page = client.list_stream_processors(**({"NextToken": token} if token else {}))
        names += [p["Name"] for p in page.get("StreamProcessors", []) if p["Name"].startswith(prefix)]
        token = page.get("NextToken")
        if not token:
            break
    return {name: client.describe_stream_processor(Name=name)["Status"] for name in names}


def apply(client: Any, action: str, names: Iterable[str]) -> None:
    call = client.start_stream_processor if action == "start" else client.stop_stream_processor
    for name in names:
        call(Name=name)


@dataclass(frozen=True)
class Enrolment:
    path: Path
    external_image_id: str


@dataclass
class EnrolPlan:
    items: list[Enrolment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "<path>: <what is wrong and the fix>"


def _check(path: Path, external_id: str, plan: EnrolPlan) -> None:
    if not path.is_file():
        plan.problems.append(f"{path}: no such file")
    elif path.suffix.lower() not in IMAGE_SUFFIXES:
        plan.problems.append(f"{path}: not a JPEG or PNG (Rekognition reads only those)")
    elif path.stat().st_size > MAX_IMAGE_BYTES:
        plan.problems.append(f"{path}: {path.stat().st_size} bytes; at most 5 MB, resize it")
    elif not EXTERNAL_ID.match(external_id):
        plan.problems.append(f"{path}: external id {external_id!r} may hold only letters, digits and _ . - : (1-255)")
    else:
        plan.items.append(Enrolment(path, external_id))


def plan_from_folder(folder: Path, id_prefix: str = "") -> EnrolPlan:
    """Every image in the folder; the file name without its suffix is the person's external id."""
    plan = EnrolPlan()
    if not folder.is_dir():
        plan.problems.append(f"{folder}: not a folder")
        return plan
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        _check(path, id_prefix + path.stem, plan)
    return plan


def plan_from_csv(file: Path, id_prefix: str = "") -> EnrolPlan:
    """A CSV with the columns `path` (relative to the CSV) and `external_image_id`."""
    plan = EnrolPlan()
    with file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "external_image_id"} - set(reader.fieldnames or [])
        if missing:
            plan.problems.append(f"{file}: missing column(s) {', '.join(sorted(missing))}; the header must name path and external_image_id")
            return plan
        for line, row in enumerate(reader, 2):
            if not row["path"] or not row["external_image_id"]:
                plan.problems.append(f"{file}:{line}: empty path or external_image_id")
                continue
            _check((file.parent / row["path"]).resolve(), id_prefix + row["external_image_id"].strip(), plan)
    return plan


@dataclass
class EnrolResult:
    indexed: int = 0
    no_face: list[str] = field(default_factory=list)
    several_faces: list[str] = field(default_factory=list)


def enrol(client: Any, collection_id: str, plan: EnrolPlan) -> EnrolResult:
    """IndexFaces for every planned image: the largest face only (MaxFaces=1), Rekognition's quality filter."""
    result = EnrolResult()
    for item in plan.items:
        response = client.index_faces(
            CollectionId=collection_id, Image={"Bytes": item.path.read_bytes()},
            ExternalImageId=item.external_image_id, MaxFaces=1, QualityFilter="AUTO", DetectionAttributes=[],
        )
        if response.get("FaceRecords"):
            result.indexed += 1
            if response.get("UnindexedFaces"):
                result.several_faces.append(str(item.path))
        else:
            result.no_face.append(str(item.path))
    return result
