import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
application = get_wsgi_application()

# Everything loaded so far (Django, our apps, their URL and template machinery) lives as long
# as the process: move it out of the collector's sight, so that a full collection scans only
# what requests allocate. Without it, a full collection every few large requests cost 40 to
# 70 ms (issue 10: the slow batches of reading ingestion).
gc.collect()
gc.freeze()
