"""Benchmarks of aiohttp-oauth2-login (``make bench``)."""
