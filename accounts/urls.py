from django.contrib.auth import views as auth_views
from django.urls import path

app_name = "accounts"
urlpatterns = [
    path("logout/", auth_views.LogoutView.as_view(next_page="/review/login/?logged_out=1"), name="logout"),
]
