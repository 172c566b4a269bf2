from django.contrib import admin, messages

from shop import services
from shop.models import Category, NaverApiUsage, Offer, OfferClick, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_en", "name_ko")


class OfferInline(admin.TabularInline):
    model = Offer
    extra = 0
    fields = ("mall_name", "price", "link", "is_hidden", "click_count", "fetched_at")
    readonly_fields = ("click_count", "fetched_at")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "category",
        "lowest_price",
        "recommended_count",
        "click_count",
        "is_curated",
        "is_hidden",
        "offers_refreshed_at",
    )
    list_filter = ("category", "is_curated", "is_hidden")
    search_fields = ("title", "brand", "search_query_ko", "naver_product_id")
    readonly_fields = ("recommended_count", "click_count", "lowest_price", "offers_refreshed_at", "created_at")
    inlines = [OfferInline]
    actions = ["hide", "unhide", "refresh_offers_now"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The inline may have hidden, re-priced or removed offers: the listed price follows.
        services.product_prices_refresh(product=form.instance)

    @admin.action(description="Hide selected products")
    def hide(self, request, queryset):
        queryset.update(is_hidden=True)

    @admin.action(description="Show selected products")
    def unhide(self, request, queryset):
        queryset.update(is_hidden=False)

    @admin.action(description="Refresh offers from Naver now")
    def refresh_offers_now(self, request, queryset):
        for product in queryset[:20]:
            outcome = services.product_refresh_offers(product=product)
            messages.info(request, f"{product.title}: {outcome}")


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ("product", "mall_name", "price", "click_count", "is_hidden", "fetched_at")
    list_filter = ("is_hidden", "mall_name")
    list_editable = ("is_hidden",)
    search_fields = ("product__title", "mall_name")
    raw_id_fields = ("product",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.product_prices_refresh(product=obj.product)

    def delete_model(self, request, obj):
        product = obj.product
        super().delete_model(request, obj)
        services.product_prices_refresh(product=product)

    def delete_queryset(self, request, queryset):
        products = list(Product.objects.filter(pk__in=queryset.values("product_id")))
        super().delete_queryset(request, queryset)
        for product in products:
            services.product_prices_refresh(product=product)


@admin.register(OfferClick)
class OfferClickAdmin(admin.ModelAdmin):
    list_display = ("offer", "job", "created_at")
    raw_id_fields = ("offer", "recommendation", "job")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False


@admin.register(NaverApiUsage)
class NaverApiUsageAdmin(admin.ModelAdmin):
    list_display = ("day", "calls", "failures")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        from django.conf import settings

        extra_context = {
            **(extra_context or {}),
            "title": f"Naver API usage (daily limit {settings.NAVER_DAILY_CALL_LIMIT:,})",
        }
        return super().changelist_view(request, extra_context)
