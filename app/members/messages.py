"""What several modules of members (and the features above it) say about members and units."""

from __future__ import annotations

from app.core.messages import N_, Template

NO_SUCH_MEMBER = Template("member.not_in_organisation", N_("no such member in this organisation"))
NO_SUCH_UNIT = Template(
    "unit.not_in_organisation", N_("no such transport unit in this organisation")
)
