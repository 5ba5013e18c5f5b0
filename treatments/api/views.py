"""/api/v1/ appointments (reschedule, cancel, arrive, no-show, clear a hold), series (book),
sessions (log, entered in error), products (add), lots (receive, correct), check-ins.

Writes call the same services as the pages, with the same roles: `treatments.booking` (moves,
status, clearing a hold: practitioners and safety leads) and `treatments.services` (products and
lots: safety leads). The writes that run a workflow of several apps (log a session, book a
series, arrive) are added on the top floor, in clinic/api/workflows.py."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from clinic.core.access import visible
from clinic.core.api.base import ReadViewSet
from clinic.core.formtokens import form_token_record
from clinic.core.models import CLINICAL_ROLES, SAFETY_LEAD_ONLY, Clinic
from treatments import booking
from treatments.models import (
    Appointment,
    CheckIn,
    Product,
    ProductLot,
    TreatmentSeries,
    TreatmentSession,
)
from treatments.services import (
    lot_correct,
    lot_quarantine,
    lot_recall,
    lot_receive,
    lot_release,
    product_create,
    session_mark_entered_in_error,
)

from . import filters
from .serializers import (
    AppointmentSerializer,
    CheckInSerializer,
    ClearHoldSerializer,
    LotCorrectSerializer,
    LotRecalledSerializer,
    LotReceiveSerializer,
    LotReleaseSerializer,
    LotSerializer,
    LotStatusSerializer,
    ProductCreateSerializer,
    ProductSerializer,
    RescheduledSerializer,
    RescheduleSerializer,
    SeriesSerializer,
    SessionEnteredInErrorResultSerializer,
    SessionEnteredInErrorSerializer,
    SessionSerializer,
)


class AppointmentViewSet(ReadViewSet):
    queryset = Appointment.objects.select_related("patient", "practitioner", "series")
    serializer_class = AppointmentSerializer
    filterset_class = filters.AppointmentFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "starts_at"]

    def get_required_roles(self) -> frozenset[str] | None:
        return CLINICAL_ROLES if self.action == "clear_hold" else self.required_roles

    def _fresh(self, appointment: Appointment) -> Response:
        return Response(AppointmentSerializer(self.get_queryset().get(pk=appointment.pk)).data)

    @extend_schema(request=RescheduleSerializer, responses={200: RescheduledSerializer})
    @action(detail=True, methods=["post"])
    def reschedule(self, request: Any, uuid: str | None = None) -> Response:
        """Move a booked appointment (same length, same place in its series). A taken slot is
        a 409 on `starts_at`; an interval under the series' minimum comes back as a warning."""
        appointment = self.get_object()
        data = RescheduleSerializer(data=request.data, context={"appointment": appointment})
        data.is_valid(raise_exception=True)
        try:
            moved, warnings = booking.appointment_reschedule(
                appointment=appointment, starts_at=data.validated_data["starts_at"]
            )
        except booking.SlotConflict as exc:
            # The page offers the nearest free time as a button; the API names it.
            nearest = exc.slots[0].nearest if exc.slots else None
            if nearest is None:
                raise
            local = appointment.clinic.local(nearest)
            raise booking.SlotConflict(
                f"{exc.message} The nearest free time is {local.isoformat()}.",
                slots=exc.slots,
                field="starts_at",
            ) from exc
        moved = self.get_queryset().get(pk=moved.pk)
        return Response({"appointment": AppointmentSerializer(moved).data, "warnings": warnings})

    @extend_schema(request=None, responses={200: AppointmentSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Any, uuid: str | None = None) -> Response:
        """Cancel a booked appointment: the slot is freed, its reminder is not sent."""
        return self._fresh(booking.appointment_cancel(appointment=self.get_object()))

    @extend_schema(request=None, responses={200: AppointmentSerializer})
    @action(detail=True, methods=["post"], url_path="no-show", url_name="no-show")
    def no_show(self, request: Any, uuid: str | None = None) -> Response:
        """The patient did not come (booked or arrived appointments)."""
        return self._fresh(booking.appointment_mark_no_show(appointment=self.get_object()))

    @extend_schema(request=ClearHoldSerializer, responses={200: AppointmentSerializer})
    @action(detail=True, methods=["post"], url_path="clear-hold", url_name="clear-hold")
    def clear_hold(self, request: Any, uuid: str | None = None) -> Response:
        """Clear an open safety hold, saying why treatment may go ahead (clinicians only)."""
        appointment = self.get_object()
        data = ClearHoldSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appointment = booking.appointment_clear_hold(
            appointment=appointment, user=request.user, reason=data.validated_data["reason"]
        )
        return self._fresh(appointment)


class SeriesViewSet(ReadViewSet):
    """Series, read. Booking one (with the safety hold) is on the top floor:
    clinic/api/workflows.py."""

    queryset = TreatmentSeries.objects.select_related("patient", "template")
    serializer_class = SeriesSerializer
    filterset_class = filters.SeriesFilter


class SessionViewSet(ReadViewSet):
    """Sessions, read, and entered in error. Logging one (with its screening) is on the top
    floor: clinic/api/workflows.py."""

    required_roles = CLINICAL_ROLES
    queryset = TreatmentSession.objects.select_related(
        "patient", "practitioner", "appointment", "series", "lot", "signed_by"
    )
    serializer_class = SessionSerializer
    filterset_class = filters.SessionFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "performed_at"]

    @extend_schema(
        request=SessionEnteredInErrorSerializer,
        responses={200: SessionEnteredInErrorResultSerializer},
    )
    @action(detail=True, methods=["post"], url_path="entered-in-error", url_name="entered-in-error")
    def entered_in_error(self, request: Any, uuid: str | None = None) -> Response:
        """Mark a session entered in error: its unsent messages are stopped, its check-ins
        cancelled, its personal links revoked, the front desk's open calls about it cancelled,
        it leaves unsent recall notices, its appointment goes back to arrived (free for the
        correct session), and its units return to the lot up to the quantity received (what
        does not fit is `units_not_returned`, never an error).
        Marking it twice is a 400 on `reason`."""
        session = self.get_object()
        data = SessionEnteredInErrorSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = session_mark_entered_in_error(
            session=session, user=request.user, reason=data.validated_data["reason"]
        )
        return Response(
            {
                "session": SessionSerializer(self.get_queryset().get(pk=session.pk)).data,
                "units_returned": done.units_returned,
                "units_not_returned": done.units_not_returned,
                "messages_stopped": len(done.follow_up.stopped),
                "messages_already_sent": len(done.follow_up.already_sent)
                + len(done.follow_up.in_flight),
                "calls_cancelled": done.follow_up.calls_cancelled,
                "recall_notices_withdrawn": done.follow_up.notices_withdrawn,
                "appointment_freed": done.appointment_freed.uuid
                if done.appointment_freed
                else None,
            }
        )


class ProductViewSet(mixins.CreateModelMixin, ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = Product.objects.select_related("clinic")
    serializer_class = ProductSerializer
    filterset_class = filters.ProductFilter

    def get_required_roles(self) -> frozenset[str] | None:
        return SAFETY_LEAD_ONLY if self.action == "create" else self.required_roles

    @extend_schema(request=ProductCreateSerializer, responses={201: ProductSerializer})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """Add a product the clinic uses (safety leads); its lots are received separately."""
        context = {"clinics": visible(Clinic, request, roles=SAFETY_LEAD_ONLY)}
        data = ProductCreateSerializer(data=request.data, context=context)
        data.is_valid(raise_exception=True)
        product = product_create(**data.validated_data)
        product = self.get_queryset().get(pk=product.pk)
        return Response(ProductSerializer(product).data, status=status.HTTP_201_CREATED)


LOT_WRITES = frozenset({"create", "correct", "quarantine", "release", "recall"})


class LotViewSet(mixins.CreateModelMixin, ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = ProductLot.objects.select_related("product")
    serializer_class = LotSerializer
    filterset_class = filters.LotFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "expiry_date"]

    def get_required_roles(self) -> frozenset[str] | None:
        return SAFETY_LEAD_ONLY if self.action in LOT_WRITES else self.required_roles

    @extend_schema(request=LotReceiveSerializer, responses={201: LotSerializer})
    def create(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """Receive a lot of a product (safety leads); it is released for use."""
        token = self.idempotency_form_token()
        data = LotReceiveSerializer(data=request.data, context=self.get_serializer_context())
        if data.is_valid():
            lot = lot_receive(form_token=token, **data.validated_data)
        else:
            # A repeat fails validation (its lot number is taken by the lot the first request
            # made): answer with that lot. Looked up after validation, so a first request that
            # committed while this one was being validated is found too.
            lot = form_token_record(token=token, model=ProductLot, clinic=None)
            if lot is None or not self.get_queryset().filter(pk=lot.pk).exists():
                raise ValidationError(data.errors)
            lot.already_submitted = True
        fresh = self.get_queryset().get(pk=lot.pk)
        return self.created_response(LotSerializer(fresh).data, lot)

    @extend_schema(request=LotCorrectSerializer, responses={200: LotSerializer})
    @action(detail=True, methods=["post"])
    def correct(self, request: Any, uuid: str | None = None) -> Response:
        """Correct the receipt record (safety leads): send what changes and a reason."""
        lot = self.get_object()
        context = self.get_serializer_context() | {"lot": lot}
        data = LotCorrectSerializer(data=request.data, context=context)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        lot = lot_correct(lot=lot, reason=changes.pop("reason"), **changes)
        return Response(LotSerializer(self.get_queryset().get(pk=lot.pk)).data)

    def _status_change(self, request: Any, serializer: type, service: Any) -> Response:
        lot = self.get_object()
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        lot = service(lot=lot, user=request.user, reason=data.validated_data["reason"])
        return Response(LotSerializer(self.get_queryset().get(pk=lot.pk)).data)

    @extend_schema(request=LotStatusSerializer, responses={200: LotSerializer})
    @action(detail=True, methods=["post"])
    def quarantine(self, request: Any, uuid: str | None = None) -> Response:
        """Hold a released lot (safety leads): from now on no session can record it. A lot
        that is not released any more is a 409 `lot_status_changed`."""
        return self._status_change(request, LotStatusSerializer, lot_quarantine)

    @extend_schema(request=LotReleaseSerializer, responses={200: LotSerializer})
    @action(detail=True, methods=["post"])
    def release(self, request: Any, uuid: str | None = None) -> Response:
        """Release a quarantined lot for use again (a recalled lot stays recalled)."""
        return self._status_change(request, LotReleaseSerializer, lot_release)

    @extend_schema(request=LotStatusSerializer, responses={200: LotRecalledSerializer})
    @action(detail=True, methods=["post"])
    def recall(self, request: Any, uuid: str | None = None) -> Response:
        """Recall a lot for good (safety leads) and list every patient who received it (one
        recall notice each); messaging them is done from the recall page."""
        lot = self.get_object()
        data = LotStatusSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recall = lot_recall(lot=lot, user=request.user, reason=data.validated_data["reason"])
        return Response(
            {
                "lot": LotSerializer(self.get_queryset().get(pk=lot.pk)).data,
                "recall": recall.uuid,
                "patients": recall.notices.count(),
            }
        )


class CheckInViewSet(ReadViewSet):
    required_roles = CLINICAL_ROLES
    queryset = CheckIn.objects.select_related("session")
    serializer_class = CheckInSerializer
    filterset_class = filters.CheckInFilter
    ordering_fields: ClassVar[list[str]] = ["created_at", "due_at"]
