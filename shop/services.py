from django.db import transaction

from shop.models import Category, Product

DEMO_CATEGORIES = [
    ("lighting", "Lighting", "조명"),
    ("plants", "Plants", "식물"),
    ("organizers", "Organizers", "정리용품"),
    ("accessories", "Desk accessories", "데스크 액세서리"),
]

DEMO_PRODUCTS = [
    ("lighting", "LED monitor light bar", "모니터 조명 스크린바"),
    ("lighting", "Warm desk lamp", "무드등 데스크 스탠드"),
    ("plants", "Small potted succulent", "미니 다육이 화분"),
    ("organizers", "Wooden desk organizer", "원목 데스크 정리함"),
    ("accessories", "Felt desk mat", "펠트 데스크 매트"),
    ("accessories", "Monitor stand riser", "모니터 받침대"),
]


@transaction.atomic
def catalog_load_demo() -> int:
    """Idempotent: running it twice leaves the same rows."""
    categories = {}
    for slug, name_en, name_ko in DEMO_CATEGORIES:
        categories[slug], _ = Category.objects.update_or_create(
            slug=slug, defaults={"name_en": name_en, "name_ko": name_ko}
        )
    for category_slug, title, query_ko in DEMO_PRODUCTS:
        Product.objects.update_or_create(
            title=title,
            is_curated=True,
            defaults={"category": categories[category_slug], "search_query_ko": query_ko},
        )
    return len(DEMO_PRODUCTS)
