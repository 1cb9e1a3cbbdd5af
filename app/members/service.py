"""Members and their fund affiliations: creation, changes, search.

Creating a member opens its prepaid-credit account (`MEMBER:{member_number}:CREDIT`, a
liability): money received that no due has taken yet.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Actor
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.messages import MUST_NOT_BE_NULL, N_, FieldError, Template
from app.funds.models import Fund
from app.funds.service import funds_by_code, organisation_currency
from app.ledger import ownership
from app.ledger import service as ledger
from app.ledger.models import AccountType
from app.members.models import Member, MemberAffiliation
from app.members.schemas import MemberCreate, MemberRead, MemberUpdate

AFFILIATION_MAX = 64

NUMBER_TAKEN = Template("member.number_taken", N_("member number %(number)s is taken"))
MEMBER_NOT_FOUND = Template("member.not_found", N_("no member %(id)s"))
NO_FUND = Template("affiliation.no_fund", N_("no fund %(code)s in this organisation"))
AFFILIATION_LENGTH = Template(
    "affiliation.number_length", N_("an affiliation number has 1-%(count)s characters")
)
AFFILIATION_TAKEN = Template(
    "affiliation.number_taken",
    N_("affiliation number %(number)s at %(fund)s is held by member %(holder)s"),
)


def fold(text: str) -> str:
    """Lowercase without accents: "María Peña" -> "maria pena" (search matches either way)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def search_text(
    member_number: str, full_name: str, national_id: str | None, phone: str | None
) -> str:
    """What `?q=` searches: the folded name, number, national id, phone and the phone's digits."""
    digits = "".join(c for c in phone or "" if c.isdigit())
    parts = [full_name, member_number, national_id or "", phone or "", digits]
    return fold(" | ".join(parts))[:400]


ownership.reserve("MEMBER:", "the members")


def credit_account_code(member_number: str) -> str:
    return f"MEMBER:{member_number}:CREDIT"


def check_affiliations(
    session: Session, numbers: Mapping[str, str | None], funds: Mapping[str, Fund] | None = None
) -> dict[str, Fund]:
    """The funds named by {fund_code: number}; 422 naming `affiliations.CODE` otherwise."""
    funds = funds if funds is not None else funds_by_code(session, numbers.keys())
    for code, number in numbers.items():
        if code not in funds:
            raise ValidationFailed.field(f"affiliations.{code}", NO_FUND(code=code))
        if number is not None and not (1 <= len(number.strip()) <= AFFILIATION_MAX):
            raise ValidationFailed.field(
                f"affiliations.{code}", AFFILIATION_LENGTH(count=AFFILIATION_MAX)
            )
    return {code: funds[code] for code in numbers}


class AffiliationNumberTaken(Conflict):
    """One number at a fund belongs to one member: two people's contributions must never
    reach one fund account. The problem names the member who holds the number."""

    slug, title = "affiliation-number-taken", "Affiliation number held by another member"

    def __init__(self, *, field: str, fund_code: str, number: str, holder: str) -> None:
        error = taken_number(field, fund_code, number, holder)
        super().__init__(error.message, errors=[error])
        self.field, self.fund_code, self.number, self.holder = field, fund_code, number, holder


def taken_number(field: str, fund_code: str, number: str, holder: str) -> FieldError:
    """The field error of an affiliation number another member holds (naming the holder)."""
    message = AFFILIATION_TAKEN(number=number, fund=fund_code, holder=holder)
    return FieldError(field, message, {"holder": holder})


def number_holders(
    session: Session, fund_id: uuid.UUID, numbers: Collection[str]
) -> dict[str, tuple[uuid.UUID, str]]:
    """{affiliation_number: (member id, member number)} of these numbers held at this fund."""
    wanted = sorted(set(numbers))
    found: dict[str, tuple[uuid.UUID, str]] = {}
    for i in range(0, len(wanted), 1000):
        rows = session.execute(
            select(MemberAffiliation.affiliation_number, Member.id, Member.member_number)
            .join(
                Member,
                (Member.organisation_id == MemberAffiliation.organisation_id)
                & (Member.id == MemberAffiliation.member_id),
            )
            .where(
                MemberAffiliation.fund_id == fund_id,
                MemberAffiliation.affiliation_number.in_(wanted[i : i + 1000]),
            )
        )
        found.update({number: (member_id, holder) for number, member_id, holder in rows})
    return found


def refuse_taken_numbers(
    session: Session,
    numbers: Mapping[str, str | None],
    funds: Mapping[str, Fund],
    member_id: uuid.UUID | None,
    *,
    field: str = "affiliations.{code}",
) -> None:
    """409 (AffiliationNumberTaken) if another member holds one of {fund_code: number}."""
    for code, number in numbers.items():
        if number is None:
            continue
        held = number_holders(session, funds[code].id, [number.strip()]).get(number.strip())
        if held is not None and held[0] != member_id:
            raise AffiliationNumberTaken(
                field=field.format(code=code), fund_code=code, number=number.strip(), holder=held[1]
            )


def flush_affiliations(
    session: Session,
    numbers: Mapping[str, str | None],
    funds: Mapping[str, Fund],
    member_id: uuid.UUID,
) -> None:
    """Flush new or changed numbers; the unique constraint's refusal (a concurrent request
    took a number between our check and our write) becomes the same clean 409."""
    if all(number is None for number in numbers.values()):
        session.flush()  # no number set: nothing the constraint could refuse, no savepoint
        return
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        for code, number in numbers.items():
            if number is None:
                continue
            held = number_holders(session, funds[code].id, [number.strip()]).get(number.strip())
            if held is not None and held[0] != member_id:
                raise AffiliationNumberTaken(
                    field=f"affiliations.{code}",
                    fund_code=code,
                    number=number.strip(),
                    holder=held[1],
                ) from None
        raise


def create_member(session: Session, actor: Actor, data: MemberCreate) -> Member:
    """Create a member and open its prepaid-credit account (409 if the number is taken, or
    if another member holds one of its affiliation numbers)."""
    if session.scalar(select(Member.id).where(Member.member_number == data.member_number)):
        raise Conflict(NUMBER_TAKEN(number=data.member_number))
    funds = check_affiliations(session, data.affiliations)
    refuse_taken_numbers(session, dict(data.affiliations), funds, None)
    account = ledger.open_account(
        session,
        actor,
        code=credit_account_code(data.member_number),
        name=f"Prepaid credit of {data.member_number}",
        type=AccountType.liability,
        currency=organisation_currency(session),
        owner=ledger.Owner("member", data.member_number),
    )
    member = Member(
        member_number=data.member_number,
        full_name=data.full_name,
        national_id=data.national_id,
        phone=data.phone,
        sector=data.sector,
        status=data.status,
        joined_on=data.joined_on,
        credit_account_id=account.id,
        search_text=search_text(data.member_number, data.full_name, data.national_id, data.phone),
    )
    session.add(member)
    session.flush()
    for code, number in data.affiliations.items():
        session.add(
            MemberAffiliation(
                member_id=member.id, fund_id=funds[code].id, affiliation_number=number.strip()
            )
        )
    flush_affiliations(session, dict(data.affiliations), funds, member.id)
    audit.record(session, actor, "member.create", "member", member.id, data.model_dump(mode="json"))
    return member


def get_member(session: Session, member_id: uuid.UUID) -> Member:
    """The member with this id in the caller's organisation (404 otherwise)."""
    member = session.scalar(select(Member).where(Member.id == member_id))
    if member is None:
        raise NotFound(MEMBER_NOT_FOUND(id=member_id))
    return member


def affiliations_of(
    session: Session, member_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, str]]:
    """{member_id: {fund_code: affiliation_number}} for these members, in one query."""
    ids = list(member_ids)
    out: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    if not ids:
        return out
    rows = session.execute(
        select(MemberAffiliation.member_id, Fund.code, MemberAffiliation.affiliation_number)
        .join(
            Fund,
            (Fund.organisation_id == MemberAffiliation.organisation_id)
            & (Fund.id == MemberAffiliation.fund_id),
        )
        .where(MemberAffiliation.member_id.in_(ids))
    )
    for member_id, code, number in rows:
        out[member_id][code] = number
    return out


def member_reads(session: Session, members: list[Member]) -> list[MemberRead]:
    affs = affiliations_of(session, [m.id for m in members])
    return [
        MemberRead.model_validate(
            {
                **{k: getattr(m, k) for k in MemberRead.model_fields if k != "affiliations"},
                "affiliations": affs.get(m.id, {}),
            }
        )
        for m in members
    ]


def update_member(
    session: Session, actor: Actor, member_id: uuid.UUID, data: MemberUpdate
) -> Member:
    """Change a member's details, status or affiliation numbers (the number never changes).
    A number another member holds at that fund is 409 naming the holder."""
    member = get_member(session, member_id)
    changes = data.model_dump(mode="json", exclude_unset=True)
    for name in ("full_name", "status", "joined_on"):
        if name in changes and changes[name] is None:
            raise ValidationFailed.field(name, MUST_NOT_BE_NULL())
    for name in ("full_name", "national_id", "phone", "sector", "status", "joined_on"):
        if name in changes:
            setattr(member, name, getattr(data, name))
    member.search_text = search_text(
        member.member_number, member.full_name, member.national_id, member.phone
    )
    funds: dict[str, Fund] = {}
    if data.affiliations:
        funds = check_affiliations(session, data.affiliations)
        refuse_taken_numbers(session, data.affiliations, funds, member.id)
        existing = {
            a.fund_id: a
            for a in session.scalars(
                select(MemberAffiliation).where(MemberAffiliation.member_id == member.id)
            )
        }
        for code, number in data.affiliations.items():
            fund = funds[code]
            current = existing.get(fund.id)
            if number is None:
                if current is not None:
                    session.execute(
                        delete(MemberAffiliation)
                        .where(
                            MemberAffiliation.organisation_id == member.organisation_id,
                            MemberAffiliation.id == current.id,
                        )
                        .execution_options(synchronize_session=False)
                    )
            elif current is None:
                session.add(
                    MemberAffiliation(
                        member_id=member.id, fund_id=fund.id, affiliation_number=number.strip()
                    )
                )
            else:
                current.affiliation_number = number.strip()
    flush_affiliations(session, data.affiliations or {}, funds, member.id)
    audit.record(session, actor, "member.update", "member", member.id, changes)
    return member


def search_members(
    session: Session,
    *,
    q: str | None,
    status: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[Member], str | None]:
    """Members by member number; `q` matches name, member number, national id or phone
    anywhere in the text, ignoring case and accents ("maria" finds "María")."""
    stmt = select(Member).order_by(Member.member_number).limit(limit + 1)
    if q and fold(q.strip()):
        stmt = stmt.where(Member.search_text.contains(fold(q.strip()), autoescape=True))
    if status:
        stmt = stmt.where(Member.status == status)
    if after is not None:
        stmt = stmt.where(Member.member_number > after)
    rows = list(session.scalars(stmt))
    nxt = rows[limit - 1].member_number if len(rows) > limit else None
    return rows[:limit], nxt
