"""The alert rules of the pure core: one alert per visit and rule, the quality gate, zones, hours,
cooldowns, deterministic ids; all from record time, so a replay raises the same alerts."""

from __future__ import annotations

from datetime import time

from worker.core.alerts import AlertEngine, AlertRules, QualityGate, RuleSettings, alert_id
from worker.core.cameras import BusinessHours, Camera, CameraRegistry
from worker.core.record import BoundingBox, DetectedFace, FaceMatch, FrameRecord, Pose
from worker.core.tracker import Tracker

ARN = "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/hq-lab-1/1700000000000"
# Monday 2026-01-05 10:00 in Paris (09:00 UTC), inside the default business hours.
MONDAY_10H_PARIS = 1_767_603_600.0
CAMERA = Camera(
    "hq-lab-1",
    ARN,
    site="hq",
    floor="2",
    zone="lab",
    timezone="Europe/Paris",
    business_hours=BusinessHours(("mon", "tue", "wed", "thu", "fri"), time(8, 0), time(19, 0)),
)


def face(
    x: float, match: tuple[str, float] | None = None, sharpness: float = 80.0, yaw: float = 0.0, width: float = 0.08
) -> DetectedFace:
    matches = (FaceMatch(match[0], "f-" + match[0], match[1]),) if match else ()
    return DetectedFace(0, BoundingBox(width, width * 1.2, x, 0.3), 99.5, Pose(0.0, 0.0, yaw), 60.0, sharpness, matches)


def frame(t: float, *faces: DetectedFace, arn: str = ARN) -> FrameRecord:
    indexed = tuple(
        DetectedFace(i, f.box, f.confidence, f.pose, f.brightness, f.sharpness, f.matches) for i, f in enumerate(faces)
    )
    return FrameRecord(arn, f"9134{int(t)}", t, t + 0.5, 0.0, indexed)


def run(frames, rules: AlertRules = AlertRules(), cameras=(CAMERA,)):
    tracker, engine = Tracker(), AlertEngine(rules, CameraRegistry(list(cameras)), "wl_")
    alerts = []
    for f in frames:
        alerts += engine.on_frame(f, tracker.observe(f))
    return alerts, engine


def walk(start: float, n: int, match=None, **kw):
    """One person crossing the frame, one face per second."""
    return [frame(start + i, face(0.1 + 0.03 * i, match, **kw)) for i in range(n)]


def test_a_stranger_walking_past_is_one_unknown_face_alert_after_enough_good_frames():
    alerts, _ = run(walk(MONDAY_10H_PARIS, 10))
    assert [a.rule for a in alerts] == ["unknown_face"]
    alert = alerts[0]
    assert alert.at == MONDAY_10H_PARIS + 2  # the third good frame, not the end of the visit
    doc = alert.document()
    assert doc["identity"] == "unknown" and doc["category"] == "unknown" and doc["severity"] == "high"
    assert doc["camera_id"] == "hq-lab-1" and doc["site"] == "hq" and doc["zone"] == "lab"
    assert doc["local_time"] == "2026-01-05T10:00:02+01:00"
    assert doc["best_frame"]["fragment_number"].startswith("9134")
    assert alert.alert_id == alert_id(alert.track_id, "unknown_face")


def test_profile_views_and_blur_do_not_make_a_stranger():
    blurred = walk(MONDAY_10H_PARIS, 10, sharpness=5.0)
    profile = walk(MONDAY_10H_PARIS + 100, 10, yaw=70.0)
    tiny = walk(MONDAY_10H_PARIS + 200, 10, width=0.02)
    assert run(blurred + profile + tiny)[0] == []
    # Two good frames among bad ones are not enough; the third raises it.
    mixed = [
        frame(MONDAY_10H_PARIS + i, face(0.1 + 0.03 * i, sharpness=80.0 if i in (1, 4, 7) else 5.0)) for i in range(9)
    ]
    alerts, _ = run(mixed)
    assert [(a.rule, a.at) for a in alerts] == [("unknown_face", MONDAY_10H_PARIS + 7)]


def test_an_employee_at_work_raises_nothing_and_once_recognised_a_visit_is_never_unknown():
    assert run(walk(MONDAY_10H_PARIS, 10, match=("emp-0007", 97.0)))[0] == []
    # Recognised in one frame among blurred ones (which say nothing about who it is): not a stranger.
    frames = walk(MONDAY_10H_PARIS, 10, sharpness=5.0)
    frames[0] = frame(MONDAY_10H_PARIS, face(0.1, ("emp-0007", 96.0)))
    assert run(frames)[0] == []
    # Recognised in two of ten good frames (a poorly enrolled employee): named, not a stranger.
    frames = walk(MONDAY_10H_PARIS, 10, sharpness=80.0)
    for i in (0, 5):
        frames[i] = frame(MONDAY_10H_PARIS + i, face(0.1 + 0.03 * i, ("emp-0007", 96.0), sharpness=80.0))
    assert run(frames)[0] == []


def test_one_match_among_many_good_unmatched_faces_is_a_stranger_holding_a_neighbours_face():
    # In a crowd one face of the employee beside a visitor can land in the visitor's track: one match in
    # ten good faces is not enough to name it (MIN_MATCHED_SHARE), and the stranger is alerted once the
    # track is nobody's, with three good unmatched faces beyond the matched one.
    frames = walk(MONDAY_10H_PARIS, 10, sharpness=80.0)
    frames[0] = frame(MONDAY_10H_PARIS, face(0.1, ("emp-0007", 96.0), sharpness=80.0))
    alerts, _ = run(frames)
    assert [(a.rule, a.identity, a.at) for a in alerts] == [("unknown_face", None, MONDAY_10H_PARIS + 6)]


def test_a_watchlist_face_alerts_at_its_first_confident_frame_once_per_visit():
    frames = walk(MONDAY_10H_PARIS, 3, match=("wl_0042", 82.0)) + walk(MONDAY_10H_PARIS + 3, 8, match=("wl_0042", 95.0))
    alerts, _ = run(frames)
    assert [(a.rule, a.identity, a.at) for a in alerts] == [("watchlist", "wl_0042", MONDAY_10H_PARIS + 3)]
    assert alerts[0].severity == "critical" and alerts[0].document()["category"] == "watchlist"


def test_a_watchlisted_person_coming_back_within_the_cooldown_is_still_one_alert():
    first = walk(MONDAY_10H_PARIS, 5, match=("wl_0042", 95.0))
    again = walk(MONDAY_10H_PARIS + 60, 5, match=("wl_0042", 95.0))  # a new track, a minute later
    later = walk(MONDAY_10H_PARIS + 400, 5, match=("wl_0042", 95.0))  # after the 300 s cooldown
    alerts, engine = run(first + again + later)
    assert [a.at for a in alerts] == [MONDAY_10H_PARIS, MONDAY_10H_PARIS + 400]
    assert engine.stats.suppressed_by_cooldown == 1


def test_restricted_zone_and_after_hours_for_employees():
    rules = AlertRules(allowed_zones={"lab": frozenset({"emp-0001"})})
    allowed = walk(MONDAY_10H_PARIS, 6, match=("emp-0001", 97.0))
    intruder = walk(MONDAY_10H_PARIS + 100, 6, match=("emp-0002", 97.0))
    alerts, _ = run(allowed + intruder, rules)
    assert [(a.rule, a.identity) for a in alerts] == [("restricted_zone", "emp-0002")]
    assert alerts[0].at == MONDAY_10H_PARIS + 102  # confirmed at its third frame
    night = MONDAY_10H_PARIS + 12 * 3600  # 22:00 in Paris
    alerts, _ = run(walk(night, 6, match=("emp-0001", 97.0)))
    assert [(a.rule, a.document()["local_time"]) for a in alerts] == [("after_hours", "2026-01-05T22:00:02+01:00")]
    saturday = MONDAY_10H_PARIS - 2 * 86400
    assert [a.rule for a in run(walk(saturday, 6, match=("emp-0001", 97.0)))[0]] == ["after_hours"]


def test_a_camera_cooldown_bounds_what_a_crowd_raises():
    rules = AlertRules(unknown_face=RuleSettings(severity="high", camera_cooldown_s=30.0))
    crowd = []
    for i in range(6):  # six strangers, one every 10 s
        crowd += walk(MONDAY_10H_PARIS + 10 * i, 5)
    alerts, engine = run(crowd, rules)
    assert len(alerts) == 2 and engine.stats.suppressed_by_cooldown == 4
    assert len(run(crowd)[0]) == 6  # without a cooldown: one per visit


def test_a_disabled_rule_raises_nothing_and_the_gate_is_configurable():
    rules = AlertRules(unknown_face=RuleSettings(enabled=False))
    assert run(walk(MONDAY_10H_PARIS, 10), rules)[0] == []
    lenient = AlertRules(gate=QualityGate(min_sharpness=1.0))
    assert len(run(walk(MONDAY_10H_PARIS, 10, sharpness=5.0), lenient)[0]) == 1


def test_a_camera_can_limit_the_rules_that_apply_there():
    lobby = Camera(
        "hq-lobby-1", ARN, site="hq", zone="lobby", timezone="Europe/Paris", alert_rules=frozenset({"watchlist"})
    )  # strangers are expected in a public lobby
    visits = walk(MONDAY_10H_PARIS, 10) + walk(MONDAY_10H_PARIS + 30, 6, match=("wl_0042", 95.0))
    assert [a.rule for a in run(visits, cameras=(lobby,))[0]] == ["watchlist"]
    assert [a.rule for a in run(visits)[0]] == ["unknown_face", "watchlist"]  # every rule elsewhere


def test_a_replay_raises_the_same_alerts_with_the_same_ids():
    frames = walk(MONDAY_10H_PARIS, 10) + walk(MONDAY_10H_PARIS + 30, 6, match=("wl_0042", 95.0))
    first, _ = run(frames)
    second, _ = run(frames)
    assert [(a.alert_id, a.rule, a.at) for a in first] == [(a.alert_id, a.rule, a.at) for a in second]
    assert len({a.alert_id for a in first}) == 2


def test_an_unregistered_camera_still_alerts_on_strangers_but_not_on_hours():
    other = "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/unknown-cam/1"
    frames = [
        frame(MONDAY_10H_PARIS + 12 * 3600 + i, face(0.1 + 0.03 * i, ("emp-0001", 97.0)), arn=other) for i in range(6)
    ]
    assert run(frames)[0] == []  # no business hours known: no after-hours alert
    strangers = [frame(MONDAY_10H_PARIS + i, face(0.1 + 0.03 * i), arn=other) for i in range(6)]
    alerts, _ = run(strangers)
    assert [a.rule for a in alerts] == ["unknown_face"] and alerts[0].document()["registered"] is False


def test_the_configuration_builds_the_rules_and_names_a_bad_field(tmp_path):
    import pytest

    from worker.config import ConfigError, load_config

    file = tmp_path / "site.yaml"
    file.write_text(
        "alerts:\n  unknown_face_cooldown_s: 30\n  max_yaw: 25\n"
        "zones:\n  - zone: lab\n    allowed: [emp-0001]\n  - zone: vault\n    allowed: []\n"
    )
    rules = load_config(str(file), env={}, stack_env_file=None).alert_rules()
    assert rules.unknown_face.camera_cooldown_s == 30.0 and rules.gate.max_yaw == 25.0
    assert rules.allowed_zones == {"lab": frozenset({"emp-0001"}), "vault": frozenset()}
    assert rules.watchlist.severity == "critical"
    with pytest.raises(ConfigError, match=r"alerts.after_hours_severity: 'urgent'; use one of info, low"):
        load_config(env={"FACEWATCH__ALERTS__AFTER_HOURS_SEVERITY": "urgent"}, stack_env_file=None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones:\n  - zone: lab\n    allowed: emp-0001\n")
    with pytest.raises(ConfigError, match=r"zones\[0\].allowed: a list of employee ExternalImageIds"):
        load_config(str(bad), env={}, stack_env_file=None)
    cams = tmp_path / "cams.yaml"
    arn = "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/hq-lobby-1/1700000000000"
    cams.write_text(f"cameras:\n  - id: hq-lobby-1\n    stream_arn: {arn}\n    alert_rules: [watchlist]\n")
    (camera,) = load_config(str(cams), env={}, stack_env_file=None).cameras
    assert camera.alert_rules == frozenset({"watchlist"})
    cams.write_text(f"cameras:\n  - id: hq-lobby-1\n    stream_arn: {arn}\n    alert_rules: [unknown]\n")
    with pytest.raises(ConfigError, match=r"cameras\[0\].alert_rules: unknown rule\(s\) unknown; known: watchlist"):
        load_config(str(cams), env={}, stack_env_file=None)
