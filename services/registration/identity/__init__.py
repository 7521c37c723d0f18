"""Identity: the staff directory's API, the token service (RS256 with `kid`, JWKS), SMS codes."""
