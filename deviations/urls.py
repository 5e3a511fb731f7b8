from django.urls import path

from deviations import views

app_name = "deviations"

urlpatterns = [
    path("", views.board, name="board"),
    path("mine/", views.mine, name="mine"),
    path("badge/", views.badge, name="badge"),
    path("raise/", views.raise_deviation, name="raise"),
    path("settings/", views.settings_index, name="settings-index"),
    path("settings/<str:code>/", views.settings_page, name="settings"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/classify/", views.classify, name="classify"),
    path("<int:pk>/dispose/", views.dispose, name="dispose"),
    path("<int:pk>/investigate/", views.investigate, name="investigate"),
    path("<int:pk>/capa/", views.add_capa, name="capa-add"),
    path("<int:pk>/capa/<int:capa_pk>/done/", views.complete_capa, name="capa-complete"),
    path("<int:pk>/close/", views.close, name="close"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/comment/", views.comment, name="comment"),
    path("<int:pk>/immediate-actions/", views.immediate_actions, name="immediate-actions"),
    path("<int:pk>/attachments/<int:attachment_pk>/", views.attachment, name="attachment"),
]
