"""Words the pages show for the domain's codes (roles, statuses, ...), marked for translation.

`N_` only marks a string for extraction (`pybabel extract`); it is translated when shown.
"""

from __future__ import annotations

from app.collections.vocabulary import Channel, ReceiptStatus, ReportGrouping
from app.core.roles import Role
from app.funds.models import FundKind
from app.ledger.models import AccountType
from app.members.models import CrewRole, MemberStatus, UnitStatus
from app.payments.vocabulary import ProviderStatus
from app.remittances.lifecycle import AffiliationStatus, BatchStatus, LineStatus
from app.schemes.models import CoverageStatus, DueStatus, SchemeKind
from app.schemes.schemas import QuotePeriod


def N_(message: str) -> str:
    return message


ROLES = Role.labels()

STATUSES = {
    # a provider's word for a transaction, said inside a stored reason (payment.provider_failed);
    # first, so that the service's own statuses below keep their labels
    **ProviderStatus.labels(),
    **MemberStatus.labels(),
    **UnitStatus.labels(),
    **DueStatus.labels(),
    **ReceiptStatus.labels(),
    **AffiliationStatus.labels(),
    **BatchStatus.labels(),
    **LineStatus.labels(),
    **CoverageStatus.labels(),
    "created": N_("created"),
    "duplicate": N_("duplicate"),
    "ok": N_("ok"),
    "would_create": N_("would be created"),
}

ACCOUNT_TYPES = AccountType.labels()

CHANNELS = Channel.labels()

CREW_ROLES = CrewRole.labels()

FUND_KINDS = FundKind.labels()

SCHEME_KINDS = SchemeKind.labels()

STATEMENT_KINDS = {
    "due": N_("Due"),
    "receipt": N_("Receipt"),
    "allocation": N_("Paid on a due"),
    "credit_applied": N_("Credit applied"),
    "credit_undone": N_("Credit given back"),
    "reversal": N_("Reversal"),
}

GROUPS = ReportGrouping.labels()

PERIODS = QuotePeriod.labels()

# The main menu: (path under the web prefix, label, roles that see it). A page appears here
# once it exists.
NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("/", N_("Dashboard"), ("admin", "treasurer", "auditor")),
    ("/members", N_("Members"), ("admin", "treasurer", "auditor")),
    ("/units", N_("Units"), ("admin", "treasurer", "auditor")),
    ("/receipts", N_("Receipts"), ("admin", "treasurer", "auditor", "collector")),
    ("/handovers", N_("Hand-overs"), ("admin", "treasurer", "auditor")),
    ("/collectors", N_("Collectors"), ("admin", "treasurer", "auditor")),
    ("/payment-channels", N_("Mobile money"), ("admin", "treasurer", "auditor")),
    ("/remittances", N_("Remittances"), ("admin", "treasurer", "auditor", "fund_office")),
    ("/schemes", N_("Schemes and funds"), ("admin", "treasurer", "auditor")),
    ("/reports", N_("Reports"), ("admin", "treasurer", "auditor")),
    ("/accounts", N_("Books"), ("admin", "treasurer", "auditor")),
    ("/audit", N_("Audit trail"), ("admin", "auditor")),
    ("/admin/users", N_("Users and keys"), ("admin",)),
]
