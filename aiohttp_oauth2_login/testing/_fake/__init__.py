"""The fake OAuth2 / OpenID Connect provider of the testing kit.

``provider`` (the ``FakeProvider`` facade) builds on ``endpoints`` (handlers), ``grants``
(request and redemption rules), ``mint`` (keys, codes, tokens), ``pages`` (HTML), ``http``
(response and slow-answer helpers) and ``model`` (failure modes, accounts, records).
"""
