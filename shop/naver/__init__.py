"""The only code that talks to Naver's Shopping Search API."""
