from django.urls import path

from scheduling import views

app_name = "scheduling"

urlpatterns = [
    path("suites/", views.suite_list, name="suite-list"),
    path("suites/<int:pk>/", views.suite_detail, name="suite-detail"),
]
