"""Who may do what: the roles a user or an API key acts in.

In the kernel because the request's caller (`app.core.deps.Principal`, `Caller`) is made of
one; `app.identity` stores a role on each user and API key.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    admin = "admin"
    treasurer = "treasurer"
    collector = "collector"
    fund_office = "fund_office"
    auditor = "auditor"


ROLE_VALUES = tuple(r.value for r in Role)
