"""The tailgating case of bench/alerts.py: the pure core on the crowd preset, scored against the truth."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "alerts.py"


@pytest.fixture(scope="module")
def alerts():
    spec = importlib.util.spec_from_file_location("bench_alerts", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def case(alerts):
    return alerts.tailgating_case([5], cameras=2, duration_s=120.0)


def ratio(x) -> bool:
    return isinstance(x, float | int) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def test_the_case_is_a_pure_core_case_run_by_default(alerts):
    assert "tailgating" in alerts.CORE_CASES and "tailgating" not in alerts.CASES
    assert alerts.TAILGATING_SPEC == {"cameras": 8, "duration_s": 600.0}


def test_the_preset_cameras_are_registered_with_unknown_face_on_and_no_cooldown(alerts):
    from worker.sim.scenario import build_scenario, make_cameras, preset

    scenario = build_scenario(preset("tailgating", cameras=8, duration_s=1, seed=1))
    cfg = alerts.tailgating_config(scenario)
    rules = cfg.alert_rules()
    assert rules.unknown_face.enabled and rules.unknown_face.camera_cooldown_s == 0
    registered = {c.stream_arn: c for c in cfg.cameras}
    assert set(registered) == {c.stream_arn for c in make_cameras(8)}
    assert all(c.registered and (c.alert_rules is None or "unknown_face" in c.alert_rules) for c in cfg.cameras)


def test_each_seed_and_the_pool_have_figures_in_range_and_consistent_counts(case):
    assert case["case"] == "tailgating" and isinstance(case["passed"], bool)
    assert [r["seed"] for r in case["seeds"]] == [5] and case["pooled"]["seeds"] == [5]
    for row in [*case["seeds"], case["pooled"]]:
        for key in ("unknown_face", "tailgating_visits"):
            figures = row[key]
            assert ratio(figures["recall"]) and ratio(figures["precision"])
            assert 0 <= figures["hit"] <= min(figures["expected"], figures["alerts"])
        n = row["tailgater_visits"]
        assert n > 0
        # every tailgater is alerted, missed, or seen too poorly (quality gate) for the truth to expect one
        assert row["alerted"] + row["missed"] + row["not_due"] >= n
        assert row["tailgating_visits"]["expected"] == n - row["not_due"]
    row = case["seeds"][0]
    assert len(row["missed_ids"]) == row["missed"] and len(set(row["missed_ids"])) == row["missed"]
    assert all(isinstance(v, str) and v.startswith("cam-") for v in row["missed_ids"])
    pooled = case["pooled"]
    want = pooled["tailgating_visits"]["recall"] >= 0.99 and pooled["tailgating_visits"]["precision"] >= 0.98
    assert case["passed"] == want
