"""Message pieces shared by every layer that validates names (losses, parameters, rule thresholds)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def unknown_name_message(what: str, name: str, valid: Sequence[str]) -> str:
    """``Unknown loss 'dcie'. Did you mean 'dice'? Valid: ...`` (difflib, like MONAI's ``look_up_option``).

    Example:
        >>> unknown_name_message("threshold", "empty_mask_shar", ["empty_mask_share", "tiny_object_share"])
        "Unknown threshold 'empty_mask_shar'. Did you mean 'empty_mask_share'? Valid: empty_mask_share, \
tiny_object_share."
    """
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown {what} {name!r}.{hint} Valid: {', '.join(valid)}."
