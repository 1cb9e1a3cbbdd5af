"""Words the pages show for the domain's codes (roles, statuses, ...), marked for translation.

`N_` only marks a string for extraction (`pybabel extract`); it is translated when shown.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message


ROLES = {
    "admin": N_("administrator"),
    "treasurer": N_("treasurer"),
    "collector": N_("collector"),
    "fund_office": N_("fund office"),
    "auditor": N_("auditor"),
}

STATUSES = {
    "active": N_("active"),
    "suspended": N_("suspended"),
    "exited": N_("exited"),
    "retired": N_("retired"),
    "open": N_("open"),
    "partial": N_("partly paid"),
    "paid": N_("paid"),
    "posted": N_("posted"),
    "reversed": N_("reversed"),
    "draft": N_("draft"),
    "sealed": N_("sealed"),
    "submitted": N_("submitted"),
    "acknowledged": N_("acknowledged"),
    "settled": N_("settled"),
    "cancelled": N_("cancelled"),
    "accepted": N_("accepted"),
    "rejected": N_("rejected"),
    "pending": N_("pending"),
    "covered": N_("covered"),
    "grace": N_("in grace period"),
    "lapsed": N_("lapsed"),
    "created": N_("created"),
    "duplicate": N_("duplicate"),
    "ok": N_("ok"),
    "would_create": N_("would be created"),
}

ACCOUNT_TYPES = {
    "asset": N_("asset"),
    "liability": N_("liability"),
    "equity": N_("equity"),
    "income": N_("income"),
    "expense": N_("expense"),
}

CHANNELS = {"cash": N_("cash"), "mobile_money": N_("mobile money"), "bank": N_("bank")}

CREW_ROLES = {"owner": N_("owner"), "driver": N_("driver"), "conductor": N_("conductor")}

FUND_KINDS = {
    "social_security": N_("social security"),
    "health_mutual": N_("health mutual"),
    "pension": N_("pension"),
    "accident": N_("accident"),
    "other": N_("other"),
}

SCHEME_KINDS = {
    "daily_per_unit": N_("daily per unit"),
    "per_harvest": N_("per harvest"),
    "monthly": N_("monthly"),
}

STATEMENT_KINDS = {
    "due": N_("Due"),
    "receipt": N_("Receipt"),
    "allocation": N_("Paid on a due"),
    "credit_applied": N_("Credit applied"),
    "credit_undone": N_("Credit given back"),
    "reversal": N_("Reversal"),
}

GROUPS = {
    "day": N_("Day"),
    "collector": N_("Collector"),
    "fund": N_("Fund"),
    "scheme": N_("Scheme"),
}

PERIODS = {"day": N_("day"), "month": N_("month"), "harvest": N_("harvest")}

# The main menu: (path under the web prefix, label, roles that see it). A page appears here
# once it exists.
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("/", N_("Dashboard"), ("admin", "treasurer", "auditor")),
    ("/members", N_("Members"), ("admin", "treasurer", "auditor")),
    ("/units", N_("Units"), ("admin", "treasurer", "auditor")),
    ("/receipts", N_("Receipts"), ("admin", "treasurer", "auditor", "collector")),
    ("/handovers", N_("Hand-overs"), ("admin", "treasurer", "auditor")),
    ("/remittances", N_("Remittances"), ("admin", "treasurer", "auditor", "fund_office")),
    ("/schemes", N_("Schemes and funds"), ("admin", "treasurer", "auditor")),
    ("/reports", N_("Reports"), ("admin", "treasurer", "auditor")),
    ("/accounts", N_("Books"), ("admin", "treasurer", "auditor")),
    ("/audit", N_("Audit trail"), ("admin", "auditor")),
    ("/admin/users", N_("Users and keys"), ("admin",)),
]
