from django.urls import path

from batchrecords import views

app_name = "batchrecords"
urlpatterns = [
    path("", views.master_list, name="master-list"),
    path("versions/<int:pk>/", views.version_detail, name="version-detail"),
    path("versions/<int:pk>/diff/<int:other>/", views.version_diff, name="version-diff"),
    path("versions/<int:pk>/submit/", views.submit, name="version-submit"),
    path("versions/<int:pk>/new-version/", views.new_version, name="version-new"),
    path("versions/<int:pk>/retire/", views.retire, name="version-retire"),
    path("versions/<int:pk>/approve/", views.approve, name="version-approve"),
]
