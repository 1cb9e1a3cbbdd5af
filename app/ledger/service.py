"""The ledger's verbs, in one place for the packages that call them
(`from app.ledger import service as ledger`): open accounts, post, reverse, balance, history.

They live in three modules, lowest first (each imports only those before it):
- app/ledger/accounts.py: who keeps an account (`Owner`), opening and finding accounts;
- app/ledger/posting.py: posting and reversing entries, reading them back, and keeping the
  stored balances up to date;
- app/ledger/balances.py: balances (now or as of a date) and an account's history.
The rules about manual entries and accounts (`post_manual`, `reverse_manual`) are in
app/ledger/ownership.py.
"""

from app.ledger.accounts import (
    MANUAL_OWNER,
    AccountSpec,
    Owner,
    account_by_code,
    ensure_account,
    get_account,
    open_account,
    open_accounts,
    owner_of,
)
from app.ledger.balances import Balance, HistoryKey, HistoryLine, balance, balances, history
from app.ledger.posting import (
    EntryDraft,
    Line,
    entry_postings,
    flush_balances,
    get_entry,
    post,
    post_many,
    reversal_of,
    reverse,
)

__all__ = [
    "MANUAL_OWNER",
    "AccountSpec",
    "Balance",
    "EntryDraft",
    "HistoryKey",
    "HistoryLine",
    "Line",
    "Owner",
    "account_by_code",
    "balance",
    "balances",
    "ensure_account",
    "entry_postings",
    "flush_balances",
    "get_account",
    "get_entry",
    "history",
    "open_account",
    "open_accounts",
    "owner_of",
    "post",
    "post_many",
    "reversal_of",
    "reverse",
]
