from django.contrib.auth import views as auth_views
from django.urls import path

from labeling import views

app_name = "labeling"
urlpatterns = [
    path("review/", views.queue, name="queue"),
    path("review/item/<int:task_id>/", views.item, name="item"),
    path("review/item/<int:task_id>/skip/", views.skip, name="skip"),
    path("review/stats/", views.stats, name="stats"),
    path(
        "review/login/",
        auth_views.LoginView.as_view(template_name="labeling/login.html", next_page="/review/"),
        name="login",
    ),
]
