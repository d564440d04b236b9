from django.urls import path

from rewards import views

app_name = "rewards"
urlpatterns = [
    path("rewards/", views.reward_model_list, name="list"),
    path("rewards/<str:version>/", views.reward_model_detail, name="detail"),
    path("rewards/<str:version>/promote", views.reward_model_promote_view, name="promote"),
    path("rewards/<str:version>/retire", views.reward_model_retire_view, name="retire"),
]
