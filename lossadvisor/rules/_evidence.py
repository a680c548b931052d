"""Which rows of the evidence table each rung of the ladder stands on.

The evidence is ``docs/EVIDENCE.md`` and ``docs/evidence_rules.csv``, written by ``python -m benchmarks
rules``: every candidate loss trained at 3x a confirmation run's steps, its learning rate swept, over several
seeds, on real sets and on variants that move one property at a time. A rung's rationale names its rows (the
``set_id`` column), so a reader can check the claim, and a test fails when a cited row is missing from the
committed table or a measured rung cites none.
"""

from __future__ import annotations

EVIDENCE_DOC = "docs/EVIDENCE.md"

# Claim -> the row ids that support it.
EVIDENCE: dict[str, tuple[str, ...]] = {
    # Moderate imbalance: weighted CE with weights under 5x the background's had the best IoU or one within
    # the seed noise of the best.
    "moderate_weighted_ce": (
        "buildings",
        "nuclei",
        "buildings-outline",
        "nuclei-outline",
        "hippocampus-dropped",
    ),
    # Full inverse-frequency weights cost IoU against the square-root ones (by 0.04-0.06 on these rows).
    "weighted_ce_costs_iou": ("nuclei", "hippocampus", "nuclei-outline", "hippocampus-dropped"),
    # Severe imbalance: Dice + CE's IoU within the seed noise of the best measured loss.
    "severe_dice_ce": ("hippocampus",),
    # Dice + CE at moderate imbalance: within the noise of plain CE (buildings) and of the best (nuclei).
    "moderate_dice_ce": ("buildings", "nuclei"),
    # Plain Dice at moderate imbalance: the best IoU on buildings, level with CE on nuclei, the widest seeds.
    "moderate_dice": ("buildings", "nuclei"),
    # Focal at moderate imbalance: below CE on buildings, level with it on nuclei (one seed far below).
    "moderate_focal": ("buildings", "nuclei"),
    # Severe imbalance (hippocampus, 21:1): plain Dice 0.046 below CE; focal and Tversky within 0.02 of it.
    "severe_dice": ("hippocampus",),
    "severe_focal_tversky": ("hippocampus",),
    # Inverse-frequency weighted CE has the best pixel recall of the measured losses.
    "recall_weighted_ce": (
        "buildings",
        "nuclei",
        "hippocampus",
        "buildings-outline",
        "nuclei-outline",
        "hippocampus-dropped",
    ),
}


def cite(claim: str) -> str:
    """``"evidence: docs/EVIDENCE.md rows a, b"`` for a claim of :data:`EVIDENCE`.

    Raises:
        KeyError: an unknown claim (a bug: every cited claim is listed above).
    """
    rows = EVIDENCE[claim]
    return f"evidence: {EVIDENCE_DOC} rows {', '.join(rows)}"
