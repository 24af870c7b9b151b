"""Simulated frames -> the exact bytes a Rekognition face-search stream processor writes.

Rekognition is a Java service: its timestamps come out of Double.toString, so epoch seconds appear
in scientific notation (`1.605467332479E9`). A consumer that only ever saw `1605467332.479` would be
tested on the wrong input, so the encoder writes them the same way.
"""

from __future__ import annotations

from decimal import Decimal

import orjson

from worker.sim.scenario import SimFace, SimFrame


def java_double(value: float) -> str:
    """Double.toString for magnitudes >= 1e7: one digit, point, the rest, `E`, exponent."""
    d = Decimal(repr(float(value))).normalize()
    sign, digits, _ = d.as_tuple()
    mantissa = "".join(str(x) for x in digits)
    text = mantissa[0] + "." + (mantissa[1:] or "0")
    return f"{'-' if sign else ''}{text}E{d.adjusted()}"


def _face(face: SimFace) -> dict:
    w, h, left, top = face.box
    pitch, roll, yaw = face.pose
    cx, cy = left + w / 2, top + h / 2
    return {
        "DetectedFace": {
            "BoundingBox": {"Height": h, "Width": w, "Left": left, "Top": top},
            "Confidence": face.confidence,
            "Landmarks": [
                {"X": round(cx - w * 0.2, 6), "Y": round(cy - h * 0.1, 6), "Type": "eyeLeft"},
                {"X": round(cx + w * 0.2, 6), "Y": round(cy - h * 0.1, 6), "Type": "eyeRight"},
                {"X": round(cx, 6), "Y": round(cy + h * 0.05, 6), "Type": "nose"},
                {"X": round(cx - w * 0.15, 6), "Y": round(cy + h * 0.25, 6), "Type": "mouthLeft"},
                {"X": round(cx + w * 0.15, 6), "Y": round(cy + h * 0.25, 6), "Type": "mouthRight"},
            ],
            "Pose": {"Pitch": pitch, "Roll": roll, "Yaw": yaw},
            "Quality": {"Brightness": face.brightness, "Sharpness": face.sharpness},
        },
        "MatchedFaces": [
            {
                "Similarity": m.similarity,
                "Face": {
                    "BoundingBox": {"Height": 0.557, "Width": 0.749, "Left": 0.103, "Top": 0.206},
                    "FaceId": m.face_id,
                    "Confidence": 99.999,
                    "ImageId": m.image_id,
                    "ExternalImageId": m.external_image_id,
                },
            }
            for m in face.matches
        ],
    }


def encode_frame(frame: SimFrame) -> bytes:
    doc = {
        "InputInformation": {
            "KinesisVideo": {
                "StreamArn": frame.camera.stream_arn,
                "FragmentNumber": frame.fragment_number,
                "ServerTimestamp": "@@SERVER@@",
                "ProducerTimestamp": "@@PRODUCER@@",
                "FrameOffsetInSeconds": frame.frame_offset_s,
            }
        },
        "StreamProcessorInformation": {"Status": "RUNNING"},
        "FaceSearchResponse": [_face(f) for f in frame.faces],
    }
    text = orjson.dumps(doc)
    text = text.replace(b'"@@SERVER@@"', java_double(frame.server_timestamp).encode(), 1)
    return text.replace(b'"@@PRODUCER@@"', java_double(frame.producer_timestamp).encode(), 1)
