from rest_framework.routers import SimpleRouter

from deviations import api

# Mounted at /api/v1/deviations/: the collection is the mount point itself.
router = SimpleRouter()
router.register("", api.DeviationViewSet, basename="api-deviation")

urlpatterns = router.urls
