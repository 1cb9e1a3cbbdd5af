"""Who may do what: the roles a user or an API key acts in.

In the kernel because the request's caller (`app.core.deps.Principal`, `Caller`) is made of
one; `app.identity` stores a role on each user and API key.
"""

from __future__ import annotations

from app.core.messages import N_
from app.core.vocabulary import Vocabulary


class Role(Vocabulary):
    """What a user or an API key may do; the label is the word the pages show."""

    admin = "admin", N_("administrator")
    treasurer = "treasurer", N_("treasurer")
    collector = "collector", N_("collector")
    fund_office = "fund_office", N_("fund office")
    auditor = "auditor", N_("auditor")


ROLE_VALUES = tuple(r.value for r in Role)
