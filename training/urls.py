from django.urls import path

from training import views

app_name = "training"

urlpatterns = [
    path("", views.matrix, name="matrix"),
    path("me/", views.me, name="me"),
    path("people/<int:pk>/", views.person_detail, name="person"),
    path("people/<int:pk>/grant/", views.grant, name="grant"),
    path("certifications/<int:pk>/<str:action>/", views.decide, name="decide"),
    path("record/", views.record_training, name="record"),
    path("records/<int:pk>/verify/", views.verify_training, name="verify"),
    path("sops/", views.sop_list, name="sops"),
    path("sops/<int:pk>/revisions/", views.sop_add_revision, name="sop-add-revision"),
    path("sop-revisions/<int:pk>/effective/", views.sop_make_effective,
         name="sop-make-effective"),
]
