"""Everything remembered between requests: the session layout, the storages, login
transactions in cookies, the cheap login check."""
