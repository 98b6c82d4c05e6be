"""The fake OAuth2 / OpenID Connect provider of the testing kit."""
