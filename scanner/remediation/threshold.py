"""Which detections remediation acts on: the policy's action threshold (``model.Policy.acts_on``), and how
the detections it holds back are reported (decision 0010). Internal to ``remediation``: ``remediate.plan``
applies it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from scanner.model import Detection, Policy, display_path

logger = logging.getLogger(__name__)

BELOW_THRESHOLD = "not acted on: below the action threshold"
"""What a detection the policy does not act on says was done with it."""


def split(detections: Sequence[Detection], policy: Policy) -> tuple[list[Detection], tuple[Detection, ...]]:
    """``detections`` as those the policy acts on, and those it holds back (reported only)."""
    acted = [d for d in detections if policy.acts_on(d.hit)]
    held = tuple(d for d in detections if not policy.acts_on(d.hit))
    if held:
        least = policy.min_severity.value if policy.min_severity else "high, unless the project's own rules"
        logger.info("%d detection(s) below the action threshold (%s): reported, not acted on", len(held), least)
    return acted, held


def held_json(held: Sequence[Detection]) -> list[dict[str, Any]]:
    """The report form of the detections held back, one entry each."""
    return [
        {
            "target": display_path(d.path) if d.path else f"pid {d.process.pid}" if d.process else "?",
            "rule": d.hit.rule,
            "namespace": d.hit.namespace,
            "severity": d.hit.severity.value,
            "reason": BELOW_THRESHOLD,
        }
        for d in held
    ]
