from django.urls import path

from scheduling import views, views_terminals

app_name = "scheduling"

urlpatterns = [
    path("suites/", views.suite_list, name="suite-list"),
    path("suites/<int:pk>/", views.suite_detail, name="suite-detail"),
]

# The suite's terminals (views_terminals): register this browser, the key shown once, withdraw.
urlpatterns += [
    path("suites/<int:pk>/terminals/register/", views_terminals.register,
         name="terminal-register"),
    path("suites/<int:pk>/terminals/<int:terminal_pk>/registered/", views_terminals.registered,
         name="terminal-registered"),
    path("suites/<int:pk>/terminals/<int:terminal_pk>/withdraw/", views_terminals.withdraw,
         name="terminal-withdraw"),
]
