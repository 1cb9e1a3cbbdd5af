"""Who holds a credential, read from the identity tables for `app.core.deps.authenticate`.

The kernel checks the bearer credential and builds the caller (`Principal`); it cannot read
these tables itself (they are a floor above it), so `app.main.create_app` registers this
source on the app (`app.state.principal_source`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.deps import PrincipalRow
from app.identity.models import ApiKey, Organisation, User


class IdentityPrincipals:
    """`app.core.deps.PrincipalSource` over the organisation, user and API key tables."""

    def by_api_key(self, session: Session, key_hash: str) -> PrincipalRow | None:
        # columns, not entities: no ORM objects to build on every API call
        row = session.execute(
            select(
                Organisation.id,
                Organisation.code,
                Organisation.currency,
                Organisation.time_zone,
                ApiKey.role,
                ApiKey.id,
                ApiKey.name,
                ApiKey.fund_code,
            )
            .join(Organisation, Organisation.id == ApiKey.organisation_id)
            .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        ).first()
        return None if row is None else PrincipalRow(*row)

    def by_user(
        self, session: Session, organisation_id: uuid.UUID, user_id: uuid.UUID
    ) -> PrincipalRow | None:
        row = session.execute(
            select(User, Organisation)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(
                User.organisation_id == organisation_id,
                User.id == user_id,
                User.is_active.is_(True),
            )
        ).first()
        if row is None:
            return None
        user, org = row
        return PrincipalRow(
            org.id,
            org.code,
            org.currency,
            org.time_zone,
            user.role,
            user.id,
            user.username,
            user.fund_code,
        )
