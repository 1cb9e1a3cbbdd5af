"""What the remittances' services say that more than one of their modules says."""

from __future__ import annotations

from app.core.messages import N_, Template

ADAPTER_NOT_INSTALLED = Template(
    "fund.adapter_not_installed",
    N_("fund %(fund)s's adapter %(adapter)s is not installed: installed are %(names)s"),
)
ADAPTER_MISSING = Template(
    "fund.adapter_missing", N_("fund %(fund)s's adapter %(adapter)s is not installed")
)
REJECTION_NEEDS_REASON = Template("answer.reason_missing", N_("a rejection needs a reason"))
