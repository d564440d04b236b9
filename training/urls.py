from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("experiments/", views.experiment_list, name="experiments"),
    path("experiments/compare/", views.experiment_compare, name="compare"),
    path("experiments/export.csv", views.experiment_export, name="export"),
]
