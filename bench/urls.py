"""The project's URLs plus the floor, for the benchmark settings only."""

from django.urls import path

from bench import views
from mes.urls import handler400, handler403, handler404, handler500  # noqa: F401
from mes.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/floor/", views.floor, name="bench-floor"),
    *project_urlpatterns,
]
