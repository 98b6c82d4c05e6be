"""The back channel: RFC 6749/7636 requests, ID tokens, transactions. Knows neither
``aiohttp.web`` nor the providers."""
