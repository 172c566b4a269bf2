from django.contrib import admin

from shop.models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("slug", "name_en", "name_ko")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("title", "brand", "category", "is_curated", "is_hidden")
    list_filter = ("category", "is_curated", "is_hidden")
    search_fields = ("title", "brand", "search_query_ko")
