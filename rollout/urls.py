from django.urls import path

from rollout import api, views

app_name = "rollout"
urlpatterns = [
    path("api/policy", api.PolicyApi.as_view(), name="policy"),
    path("rollouts/", views.dashboard, name="dashboard"),
    path("rollouts/<int:rollout_id>/rollback", views.rollback, name="rollback"),
]
