from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from zeke_rft import metrics, status
from zeke_rft.history import history_admin_guard_object_ids

history_admin_guard_object_ids()

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/agents/status", status.AgentsStatusApi.as_view(), name="agents-status"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("", include("traces.urls")),
    path("", include("labeling.urls")),
    path("", include("rewards.urls")),
    path("", include("training.urls")),
    path("", include("rollout.urls")),
    path("", include("pipeline.urls")),
    path("accounts/", include("accounts.urls")),
]
