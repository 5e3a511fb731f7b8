"""The kernel and project package. Kept free of imports so `python3 -m mes.bootstrap` runs on
a bare Python before any dependency is installed; the Celery app is loaded in
MesConfig.ready() (and by `celery -A mes`)."""
