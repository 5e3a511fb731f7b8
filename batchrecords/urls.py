from django.urls import path

from batchrecords import draft_views, views
from batchrecords import views_batches as batches
from batchrecords import views_lifecycle as lifecycle
from batchrecords import views_terminal as terminal
from batchrecords import views_terminal_actions as terminal_actions

app_name = "batchrecords"
urlpatterns = [
    path("", views.master_list, name="master-list"),
    path("versions/<int:pk>/", views.version_detail, name="version-detail"),
    path("versions/<int:pk>/diff/<int:other>/", views.version_diff, name="version-diff"),
    path("versions/<int:pk>/submit/", views.submit, name="version-submit"),
    path("versions/<int:pk>/new-version/", views.new_version, name="version-new"),
    path("versions/<int:pk>/retire/", views.retire, name="version-retire"),
    path("versions/<int:pk>/approve/", views.approve, name="version-approve"),
    path("versions/<int:pk>/edit/<slug:part>/", draft_views.edit_draft, name="version-edit"),
    path("versions/<int:pk>/steps/<int:step>/", draft_views.edit_step, name="version-step-edit"),
    path("import/", draft_views.import_version, name="version-import"),
]

# The operator terminal (views_terminal, views_terminal_actions).

_STEP = "batches/<int:pk>/terminal/steps/<int:run_pk>/"
urlpatterns += [
    path("batches/<int:pk>/terminal/", terminal.terminal, name="terminal"),
    path(_STEP, terminal.terminal_step, name="terminal-step"),
    path(f"{_STEP}scan/", terminal.terminal_scan, name="terminal-scan"),
    path(f"{_STEP}perform/", terminal_actions.perform, name="terminal-perform"),
    path(f"{_STEP}verify/", terminal_actions.verify, name="terminal-verify"),
    path(f"{_STEP}not-applicable/", terminal_actions.not_applicable, name="terminal-na"),
    path(f"{_STEP}correct/", terminal_actions.correct, name="terminal-correct"),
    path(f"{_STEP}comment/", terminal_actions.comment, name="terminal-comment"),
    path("batches/<int:pk>/stop/clear/", terminal_actions.clear_stop, name="clear-stop"),
]

# The QA workspace for batches (views_batches): the list, its CSV, the overview and its live
# fragment.

urlpatterns += [
    path("batches/", batches.batch_list, name="batch-list"),
    path("batches/export.csv", batches.batch_list_csv, name="batch-list-csv"),
    path("batches/<int:pk>/", batches.batch_detail, name="batch-detail"),
    path("batches/<int:pk>/live/", batches.batch_overview_live, name="batch-overview-live"),
]

# A batch's lifecycle by hand (views_lifecycle): cancel, open when the receipt did not, open a
# remanufacture or second-apheresis batch after a finished one.

urlpatterns += [
    path("batches/<int:pk>/cancel/", lifecycle.cancel, name="batch-cancel"),
    path("batches/<int:pk>/follow-up/", lifecycle.follow_up, name="batch-follow-up"),
    path("patients/<int:pk>/open-batch/", lifecycle.open_for_patient,
         name="patient-open-batch"),
]
