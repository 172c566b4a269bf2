from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from ontop.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "date_joined")
