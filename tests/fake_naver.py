"""A local HTTP server speaking Naver's Shopping Search API (GET /v1/search/shop.json).

Replies look like Naver's: Korean titles with <b> highlight tags, prices as strings (hprice
often ""), productType as a string, a four-level category path. Tests queue failures
(status, body, delay) ahead of the default answer and read back every request.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlparse

from tests.fake_http import LocalServer, QuietHandler

CATALOG = [
    (
        "<b>LED</b> 데스크 <b>스탠드</b> 조명 무선 충전",
        "가구/인테리어",
        "인테리어소품",
        "스탠드",
        "LED스탠드",
        32900,
        "루미",
    ),
    ("모니터 조명 스크린바 <b>LED</b>", "디지털/가전", "PC주변기기", "모니터조명", "", 45900, "벤큐"),
    ("미니 <b>화분</b> 다육 <b>식물</b> 세트", "생활/건강", "원예/식물", "다육식물", "", 12900, ""),
    ("원목 모니터 받침대 1단 &amp; 서랍", "가구/인테리어", "수납가구", "모니터받침대", "", 29800, "우드랩"),
    ("데스크 매트 가죽 대형 800x400", "디지털/가전", "PC주변기기", "마우스패드", "", 19900, ""),
    ("블루투스 스피커 데스크용 미니", "디지털/가전", "음향가전", "블루투스스피커", "", 54000, "브리츠"),
    ("세라믹 머그컵 350ml", "생활/건강", "주방용품", "컵/머그", "", 9900, ""),
    ("데스크 정리함 수납 트레이", "생활/건강", "수납/정리용품", "데스크정리함", "", 15900, ""),
    ("헤드폰 거치대 알루미늄", "디지털/가전", "음향가전", "헤드폰액세서리", "", 17900, ""),
]


# hprice (the highest price malls ask) where Naver compares prices: the monitor light bar only.
HPRICES = {1: 52000}


def item(index: int, entry, *, mall: str = "스마트스토어", link: str | None = None) -> dict:
    title, c1, c2, c3, c4, price, brand = entry
    return {
        "title": title,
        "link": link or item_link(index),
        "image": item_image(index),
        "lprice": str(price),
        "hprice": str(HPRICES[index]) if index in HPRICES else "",
        "mallName": mall,
        "productId": item_product_id(index),
        "productType": "2",
        "brand": brand,
        "maker": brand,
        "category1": c1,
        "category2": c2,
        "category3": c3,
        "category4": c4,
    }


def item_link(index: int) -> str:
    """The item's own product page, as Naver's `link` gives it."""
    return f"https://smartstore.naver.com/main/products/{9000 + index}"


def item_image(index: int) -> str:
    return f"https://shopping-phinf.pstatic.net/main_{9000 + index}/{9000 + index}.jpg"


def item_product_id(index: int) -> str:
    return str(81_000_000_000 + index)


def search_payload(query: str) -> dict:
    items = [item(i, entry) for i, entry in enumerate(CATALOG)]
    items.append({**item(99, CATALOG[0]), "link": "http://phishing.example/buy", "productId": "1"})  # untrusted
    items.append({**item(98, CATALOG[1]), "lprice": "", "productId": "2"})  # no price: unusable
    return {
        "lastBuildDate": "Sun, 22 Nov 2026 11:00:00 +0900",
        "total": 48213,
        "start": 1,
        "display": len(items),
        "items": items,
        "_query": query,
    }


class FakeNaver(LocalServer):
    def __init__(self) -> None:
        self.queue: list[tuple[int, bytes, float]] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append({"path": url.path, "params": params, "headers": dict(self.headers.items())})
                if fake.queue:
                    status, body, delay = fake.queue.pop(0)
                    time.sleep(delay)
                elif url.path != "/v1/search/shop.json":
                    status, body = 404, b'{"errorMessage":"Not Found","errorCode":"404"}'
                else:
                    status, body = 200, json.dumps(search_payload(params.get("query", ""))).encode()
                self.reply(status, body, content_type="application/json;charset=utf-8")

        super().__init__(Handler)

    @property
    def base_url(self) -> str:
        return self.origin

    def fail(self, status: int, body: dict | str | None = None, delay: float = 0.0) -> None:
        raw = body if isinstance(body, str) else json.dumps(body or {"errorMessage": "error", "errorCode": str(status)})
        self.queue.append((status, raw.encode(), delay))
