"""Pages of the treatments app (namespace `treatments`)."""

from django.urls import path

from . import views_archive, views_booking, views_lots, views_recall

app_name = "treatments"

urlpatterns = [
    # Products and lots (safety lead; practitioners read)
    path("products/", views_lots.product_list, name="product_list"),
    path("products/new/", views_lots.product_new, name="product_new"),
    path("products/<uuid:uuid>/lots/", views_lots.lot_list, name="lot_list"),
    path("products/<uuid:uuid>/lots/receive/", views_lots.lot_new, name="lot_receive"),
    path("lots/<uuid:uuid>/", views_lots.lot_detail, name="lot"),
    path("lots/<uuid:uuid>/correct/", views_lots.lot_edit, name="lot_correct"),
    # Acting on a lot (safety lead): quarantine, release, recall; the recall page
    path("lots/<uuid:uuid>/quarantine/", views_lots.lot_quarantine_view, name="lot_quarantine"),
    path("lots/<uuid:uuid>/release/", views_lots.lot_release_view, name="lot_release"),
    path("lots/<uuid:uuid>/recall/", views_lots.lot_recall_view, name="lot_recall"),
    path("recalls/<uuid:uuid>/", views_recall.recall_detail, name="recall"),
    path("recalls/<uuid:uuid>/message-all/", views_recall.recall_message, name="recall_message"),
    path("recalls/<uuid:uuid>/export.csv", views_recall.recall_csv, name="recall_csv"),
    # Booking (front desk): series templates, calendar, appointments. Booking a series and an
    # appointment's status run a workflow of several apps: clinic/views_booking.py adds them
    # to this namespace from the top floor.
    path("series-templates/", views_booking.template_list, name="template_list"),
    path("series-templates/new/", views_booking.template_new, name="template_new"),
    path("series-templates/<uuid:uuid>/edit/", views_booking.template_edit, name="template_edit"),
    path(
        "book/<uuid:patient>/appointments/",
        views_booking.patient_appointments,
        name="patient_appointments",
    ),
    path("calendar/", views_booking.calendar, name="calendar"),
    path("appointments/<uuid:uuid>/", views_booking.appointment_detail, name="appointment"),
    path(
        "appointments/<uuid:uuid>/reschedule/",
        views_booking.appointment_reschedule,
        name="appointment_reschedule",
    ),
    path(
        "appointments/<uuid:uuid>/clear-hold/",
        views_booking.appointment_clear_hold,
        name="appointment_clear_hold",
    ),
    path("series/<uuid:uuid>/calendar.ics", views_booking.series_ics, name="series_ics"),
    # Archiving a patient (front desk, practitioners): cancels what is booked and pending
    path("patients/<uuid:uuid>/archive/", views_archive.patient_archive, name="patient_archive"),
    path(
        "patients/<uuid:uuid>/unarchive/",
        views_archive.patient_unarchive,
        name="patient_unarchive",
    ),
]
