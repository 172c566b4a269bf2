from django.urls import path

from shop import views

app_name = "shop"

urlpatterns = [
    path("", views.product_list, name="list"),
    path("recommended/", views.recommended, name="recommended"),
    path("popular/", views.popular, name="popular"),
    path("deals/", views.deals, name="deals"),
    path("p/<int:product_id>/", views.product_detail, name="detail"),
    path("go/<str:token>/", views.go, name="go"),
]
