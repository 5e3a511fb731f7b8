from django.urls import path

from reagents import views

app_name = "reagents"

urlpatterns = [
    path("", views.lot_list, name="lot-list"),
    path("receive/", views.receive, name="receive"),
    path("inventory/", views.inventory, name="inventory"),
    path("genealogy/", views.batch_genealogy, name="batch-genealogy"),
    path("materials/", views.material_list, name="material-list"),
    path("materials/new/", views.material_create, name="material-create"),
    path("lots/<int:pk>/", views.lot_detail, name="lot-detail"),
    path("lots/<int:pk>/genealogy/", views.lot_genealogy, name="lot-genealogy"),
    path("lots/<int:pk>/recall.csv", views.lot_recall_csv, name="lot-recall-csv"),
    path("lots/<int:pk>/adjust/", views.lot_adjust, name="lot-adjust"),
    path("lots/<int:pk>/<str:action>/", views.lot_decide, name="lot-decide"),
    path("entries/<int:pk>/reverse/", views.entry_reverse, name="entry-reverse"),
]
