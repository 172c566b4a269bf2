"""The real httpx-based Naver client against a local server that speaks Naver's protocol."""

from __future__ import annotations

import pytest

from shop.naver.client import (
    NaverAuthError,
    NaverBadResponse,
    NaverQuotaExceeded,
    NaverShoppingClient,
    NaverUnavailable,
    clean_title,
    is_trusted_link,
)
from tests.fake_naver import FakeNaver

TRUSTED = ("naver.com", "11st.co.kr")


@pytest.fixture
def naver():
    with FakeNaver() as server:
        yield server


def _client(server: FakeNaver, **kwargs) -> NaverShoppingClient:
    options = {"timeout": 2.0, "max_retries": 2, "backoff_seconds": 0.01, **kwargs}
    return NaverShoppingClient(
        client_id="id-123", client_secret="secret-456", base_url=server.base_url, trusted_hosts=TRUSTED, **options
    )


def test_search_sends_the_documented_request_and_parses_items(naver):
    result = _client(naver).search("  LED   데스크 스탠드 ", display=50, start=11, sort="asc")
    request = naver.requests[0]
    assert request["path"] == "/v1/search/shop.json"
    assert request["params"] == {"query": "LED 데스크 스탠드", "display": "50", "start": "11", "sort": "asc"}
    assert request["headers"]["X-Naver-Client-Id"] == "id-123"
    assert request["headers"]["X-Naver-Client-Secret"] == "secret-456"
    assert result.total == 48213
    first = result.items[0]
    assert first.title == "LED 데스크 스탠드 조명 무선 충전", "<b> tags stripped"
    assert first.lprice == 32900
    assert first.hprice is None
    assert first.product_type == 2
    assert first.categories == ("가구/인테리어", "인테리어소품", "스탠드", "LED스탠드")
    assert first.image.startswith("https://shopping-phinf.pstatic.net/")
    assert result.items[3].title == "원목 모니터 받침대 1단 & 서랍", "HTML entities decoded"
    links = [i.link for i in result.items]
    assert all(link.startswith("https://smartstore.naver.com/") for link in links), "untrusted links dropped"
    assert all(i.product_id not in ("1",) for i in result.items)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"display": 101}, "display"), ({"start": 0}, "start"), ({"sort": "best"}, "sort"), ({"query": " "}, "query")],
)
def test_bad_parameters_are_refused_before_any_call(naver, kwargs, message):
    arguments = {"query": "조명", **kwargs}
    with pytest.raises(ValueError, match=message):
        _client(naver).search(arguments.pop("query"), **arguments)
    assert naver.requests == []


def test_bad_credentials_fail_at_once(naver):
    naver.fail(401, {"errorMessage": "Authentication failed (인증에 실패했습니다.)", "errorCode": "024"})
    with pytest.raises(NaverAuthError):
        _client(naver).search("조명")
    assert len(naver.requests) == 1, "never retried"


def test_spent_quota_fails_at_once(naver):
    naver.fail(429, {"errorMessage": "Rate limit exceeded. (속도 제한을 초과했습니다.)", "errorCode": "012"})
    with pytest.raises(NaverQuotaExceeded):
        _client(naver).search("조명")
    assert len(naver.requests) == 1


def test_server_errors_are_retried_with_backoff(naver):
    naver.fail(500)
    naver.fail(503)
    result = _client(naver).search("조명")
    assert len(naver.requests) == 3
    assert result.items


def test_server_errors_that_last_become_unavailable(naver):
    for _ in range(3):
        naver.fail(500)
    with pytest.raises(NaverUnavailable):
        _client(naver).search("조명")
    assert len(naver.requests) == 3


def test_timeouts_are_retried_then_reported(naver):
    naver.fail(200, {"items": []}, delay=1.0)
    naver.fail(200, {"items": []}, delay=1.0)
    with pytest.raises(NaverUnavailable, match="did not answer"):
        _client(naver, timeout=0.3, max_retries=1).search("조명")
    assert len(naver.requests) == 2


def test_malformed_json_is_a_bad_response(naver):
    naver.fail(200, "<html>점검 중</html>")
    with pytest.raises(NaverBadResponse):
        _client(naver).search("조명")


def test_helpers():
    assert clean_title("<b>무선</b> &lt;충전&gt; 스탠드") == "무선 <충전> 스탠드"
    assert is_trusted_link("https://smartstore.naver.com/x", TRUSTED)
    assert is_trusted_link("https://www.11st.co.kr/products/1", TRUSTED)
    assert not is_trusted_link("http://smartstore.naver.com/x", TRUSTED), "https only"
    assert not is_trusted_link("https://naver.com.evil.example/x", TRUSTED)
    assert not is_trusted_link("https://user:pw@smartstore.naver.com/x", TRUSTED)
    assert not is_trusted_link("javascript:alert(1)", TRUSTED)
