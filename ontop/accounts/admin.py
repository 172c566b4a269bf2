from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from ontop.accounts.forms import LockoutAdminAuthenticationForm
from ontop.accounts.models import ApiToken, User

# /admin/login/ gets the site's login lockout too.
admin.site.login_form = LockoutAdminAuthenticationForm


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "date_joined")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Signed-in API clients. Keys exist only as hashes: an admin can sign a client out, never create one."""

    list_display = ("user", "device_name", "created", "last_used")
    list_filter = ("created", "last_used")
    search_fields = ("user__username", "user__email", "device_name")
    readonly_fields = ("user", "device_name", "created", "last_used")
    exclude = ("key_hash",)
    list_select_related = ("user",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
