"""Who sees which rows: each scoped model declares, once, the path from a row to its agency and its consultant.

``Model.visible_to(user)`` is the one where-clause every screen, lookup, picker, export, the dashboard, the to-do,
the clock, the calendar and the feed use: the user's agency always, and the user's own rows only unless their role
holds ``Capability.SEE_ALL_PORTFOLIOS`` (models/agency.py).
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import and_, select, true


class Scoped:
    """Mixin of the models whose rows belong to an agency (``agency_id``) and maybe to a consultant.

    ``consultant_path`` names the consultant: a column of the row (``"owner_id"``) or one relationship away
    (``"debtor.consultant_id"``: a debt belongs to its debtor's consultant). ``None``: the whole agency's
    (creditors, the audit log). Change the path here (e.g. to a denormalised column) and every query follows.
    """

    consultant_path: ClassVar[str | None] = None

    @classmethod
    def owner_column_name(cls) -> str | None:
        """The row's own column naming its consultant, when the path is one (set on creation for consultants)."""
        path = cls.consultant_path
        return path if path and "." not in path and path != "id" else None

    @classmethod
    def owned_by(cls, user_id: int):
        """Where-clause: rows of the consultant ``user_id`` (following the declared path)."""
        path = cls.consultant_path
        if path is None:
            return true()
        relationship, _, column = path.rpartition(".")
        if not relationship:
            return getattr(cls, column) == user_id
        prop = getattr(cls, relationship).property
        (local,) = prop.local_columns
        related = prop.mapper.class_
        (remote,) = [r for _, r in prop.local_remote_pairs]
        mine = select(getattr(related, remote.key)).where(getattr(related, column) == user_id)
        return getattr(cls, local.key).in_(mine.scalar_subquery())

    @classmethod
    def visible_to(cls, user):
        """Where-clause: the rows ``user`` may see (their agency; their own rows unless they see every portfolio)."""
        from models.agency import Capability

        clause = cls.agency_id == user.agency_id
        if cls.consultant_path is not None and not user.can(Capability.SEE_ALL_PORTFOLIOS):
            clause = and_(clause, cls.owned_by(user.id))
        return clause
