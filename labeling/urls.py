from django.urls import path

from labeling import views

app_name = "labeling"
urlpatterns = [
    path("review/", views.queue, name="queue"),
    path("review/item/<int:task_id>/", views.item, name="item"),
    path("review/item/<int:task_id>/skip/", views.skip, name="skip"),
    path("review/stats/", views.stats, name="stats"),
    path("review/login/", views.ReviewLoginView.as_view(), name="login"),
]
