"""Cursor pages: stable under inserts and no COUNT(*) over a large table."""

from rest_framework.pagination import CursorPagination


class ClinicCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"
