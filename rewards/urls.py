from django.urls import path

from rewards import views

app_name = "rewards"
urlpatterns = [
    path("rewards/", views.reward_model_list, name="list"),
    path("rewards/<str:version>/", views.reward_model_detail, name="detail"),
]
