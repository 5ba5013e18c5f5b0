"""Audit history that bulk writes cannot slip past.

django-simple-history records every `save()` and `delete()` through signals, but
`QuerySet.update()`, `bulk_create()` and `bulk_update()` send no signals. Audited models use
`AuditedQuerySet`, which writes the same historical rows for those bulk paths, on SQLite and
PostgreSQL alike. The acting user comes from simple-history's request middleware (or an
explicit `_history_user` on the objects), exactly as for single saves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from .exceptions import RuleViolation
from .models import ScopedQuerySet


def _history_manager(model: Any) -> Any:
    return getattr(model, "history", None)


class AuditedQuerySet(ScopedQuerySet):
    """A scoped queryset whose bulk writes leave history rows, and which never hard-deletes."""

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list[Any]:
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            history = _history_manager(self.model)
            if history is not None and created:
                missing = [o for o in created if o.pk is None]
                if missing:  # ignore_conflicts and friends: find the rows that landed
                    by_uuid = self.model._base_manager.in_bulk(
                        [o.uuid for o in missing], field_name="uuid"
                    )
                    for o in missing:
                        if o.uuid in by_uuid:
                            o.pk = by_uuid[o.uuid].pk
                history.bulk_history_create([o for o in created if o.pk is not None])
        return created

    def bulk_update(
        self, objs: Sequence[Any], fields: Sequence[str], *args: Any, **kwargs: Any
    ) -> int:
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            count = super().bulk_update(objs, fields, *args, **kwargs)
            history = _history_manager(self.model)
            if history is not None and objs:
                fresh = list(self.model._base_manager.filter(pk__in=[o.pk for o in objs]))
                # Carry an explicit acting user (and reason) from the objects passed in.
                passed = {o.pk: o for o in objs}
                for row in fresh:
                    for attr in ("_history_user", "_change_reason"):
                        if hasattr(passed[row.pk], attr):
                            setattr(row, attr, getattr(passed[row.pk], attr))
                history.bulk_history_create(fresh, update=True)
        return count

    def update(self, **kwargs: Any) -> int:
        # auto_now is not applied by QuerySet.update(); keep `updated_at` true here so that
        # readers of "what changed since" (the summary tables) see bulk writes too.
        if "updated_at" not in kwargs and any(
            f.name == "updated_at" for f in self.model._meta.concrete_fields
        ):
            kwargs["updated_at"] = timezone.now()
        history = _history_manager(self.model)
        if history is None:
            return super().update(**kwargs)
        with transaction.atomic(using=self.db, savepoint=False):
            pks = list(self.values_list("pk", flat=True))
            count = super().update(**kwargs)
            if pks:
                fresh = list(self.model._base_manager.filter(pk__in=pks))
                history.bulk_history_create(fresh, update=True)
        return count

    update.alters_data = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        if getattr(self.model, "never_delete", False):
            raise RuleViolation(
                f"{self.model._meta.verbose_name_plural} are clinical records and are never "
                "deleted; mark them entered in error instead."
            )
        return super().delete()

    delete.alters_data = True  # type: ignore[attr-defined]
