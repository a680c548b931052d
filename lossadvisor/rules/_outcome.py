"""What one rule hands to the engine: its trace, and how it moves the candidate losses when it fires.

A rule never builds candidates itself. It adds points to the losses it favours (or takes them from those it
distrusts), gives each a sentence of plain-words reason, and may set one of a few typed switches that shape
the parameters (batch-level Dice, a CE-heavier Dice/CE mix). The engine sums the points, ranks, and builds the
parameters, so each rule stays a small function that can be read, tested and overridden on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lossadvisor.rules._schema import RuleTrace

IMBALANCE_LEVELS = ("none", "moderate", "severe", "extreme")

# Scores a rule adds when it fires. The imbalance level hands out its ranked list in steps of LEVEL_STEP; the
# other rules add a NUDGE (half a step: it reorders neighbours only where they were close) or a PROMOTE (one
# and a half steps: it can lift a loss over the one above it, or bring in a loss the level did not list). No
# other rule about the masks adds more than PROMOTE to any loss, which is less than the level's own margin
# between its first and third choices, so the level decides the family of the first choice and the other
# rules shape the rest. The one exception is the user's own choice of metric (rule_objective, --objective
# recall), which may put the recall-trading loss first.
LEVEL_STEP = 1.0
NUDGE = 0.5
PROMOTE = 1.5


@dataclass(frozen=True)
class RuleOutcome:
    """The evidence and the effect of one rule.

    Attributes:
        trace: what the rule measured, against which threshold, and what it concluded.
        scores: loss name -> points added to its score (negative to demote). Empty when the rule did not fire,
            except for the imbalance level, which ranks its list whatever the level ("none" puts CE first).
        reasons: loss name -> one sentence for that loss's rationale.
        warnings: sentences for the user (shown under the table and saved in the recommendation).
        batch_dice: compute Dice-family terms over the whole batch rather than per image.
        favour_ce_in_mix: give CE the larger share of Dice/CE compounds (and tune the mix on that side).
        require: losses that must be among the candidates when the rule fired.
    """

    trace: RuleTrace
    scores: Mapping[str, float] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    batch_dice: bool = False
    favour_ce_in_mix: bool = False
    require: tuple[str, ...] = ()

    @property
    def fired(self) -> bool:
        return self.trace.fired


def not_applicable(rule: str, question: str, measured_name: str, why: str, reference: str) -> RuleOutcome:
    """The outcome of a rule that could not be evaluated on this profile (it is still listed in the trace)."""
    trace = RuleTrace(
        rule=rule,
        question=question,
        measured_name=measured_name,
        measured=None,
        threshold=None,
        comparison="not applicable",
        fired=False,
        conclusion=why,
        reference=reference,
    )
    return RuleOutcome(trace=trace)


def threshold_trace(
    rule: str,
    question: str,
    measured_name: str,
    measured: float,
    threshold: float,
    *,
    when_fired: str,
    otherwise: str,
    reference: str,
    strict: bool = False,
) -> RuleTrace:
    """The trace of a rule that fires when ``measured >= threshold`` (``>`` with ``strict``).

    The comparison the trace records is the one applied, so the two cannot drift apart; the conclusion is
    ``when_fired`` or ``otherwise``.
    """
    fired = measured > threshold if strict else measured >= threshold
    return RuleTrace(
        rule=rule,
        question=question,
        measured_name=measured_name,
        measured=measured,
        threshold=threshold,
        comparison=">" if strict else ">=",
        fired=fired,
        conclusion=when_fired if fired else otherwise,
        reference=reference,
    )
