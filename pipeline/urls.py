from django.urls import path

from pipeline import views

app_name = "pipeline"
urlpatterns = [
    path("pipeline/", views.runs, name="runs"),
    path("pipeline/steps/<int:step_id>/decide", views.decide, name="decide"),
]
