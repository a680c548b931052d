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
    # Moderate imbalance (10-40 %): weighted CE with square-root weights had the best IoU (buildings, nuclei)
    # or one within the seed noise of the best (the grown rows, 30 %).
    "moderate_weighted_ce": ("buildings", "nuclei", "buildings-grown", "nuclei-grown"),
    # Full inverse-frequency weights cost IoU against the square-root ones (by 0.03-0.07 on these rows).
    "weighted_ce_costs_iou": (
        "nuclei",
        "hippocampus",
        "nuclei-outline",
        "hippocampus-dropped",
        "nuclei-shrunk",
    ),
    # Dice + CE at moderate imbalance: within the noise of the best where most objects are tiny (the shrunk
    # rows), below weighted CE elsewhere.
    "moderate_dice_ce": ("buildings", "nuclei", "buildings-shrunk", "nuclei-shrunk"),
    # Plain Dice at moderate imbalance: below weighted CE on every row of the level.
    "moderate_dice": ("buildings", "nuclei", "buildings-grown", "nuclei-grown"),
    # Focal at moderate imbalance: the best on buildings-shrunk, the worst on buildings-grown, below CE on
    # buildings.
    "moderate_focal": ("buildings", "nuclei", "buildings-grown", "buildings-shrunk"),
    # Severe imbalance (under 10 %): Tversky within the seed noise of the best IoU on every row.
    "severe_tversky": ("hippocampus", "buildings-outline", "nuclei-outline", "hippocampus-dropped"),
    # Dice + CE within the noise of the best on three of the four (0.018 below on hippocampus).
    "severe_dice_ce": ("hippocampus", "buildings-outline", "nuclei-outline", "hippocampus-dropped"),
    # Plain Dice within the noise of the best on three of the four (0.018 below on nuclei-outline).
    "severe_dice": ("hippocampus", "buildings-outline", "nuclei-outline", "hippocampus-dropped"),
    # Focal at severe imbalance: under plain CE's IoU on buildings-outline (0.069 against 0.109).
    "severe_focal": ("hippocampus", "buildings-outline"),
    # Most objects tiny (share >= 0.62): Dice + CE within the noise of the best, weighted CE outside it; at
    # 0.59 (nuclei) weighted CE was the best.
    "tiny_dominant_dice_ce": ("buildings-shrunk", "nuclei-shrunk", "nuclei"),
    # Thin rims: Lovász had the worst IoU of the eight losses; Tversky the best or within the noise of it.
    "thin_lovasz_worst": ("buildings-outline", "nuclei-outline"),
    "thin_tversky": ("buildings-outline", "nuclei-outline"),
    # Inverse-frequency weighted CE has the best pixel recall of the measured losses on every row.
    "recall_weighted_ce": (
        "buildings",
        "nuclei",
        "hippocampus",
        "buildings-outline",
        "nuclei-outline",
        "hippocampus-dropped",
        "buildings-grown",
        "nuclei-grown",
        "buildings-shrunk",
        "nuclei-shrunk",
    ),
}


def cite(claim: str) -> str:
    """``"evidence: docs/EVIDENCE.md rows a, b"`` for a claim of :data:`EVIDENCE`.

    Raises:
        KeyError: an unknown claim (a bug: every cited claim is listed above).
    """
    rows = EVIDENCE[claim]
    return f"evidence: {EVIDENCE_DOC} rows {', '.join(rows)}"
