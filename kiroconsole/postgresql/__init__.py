"""Django's PostgreSQL backend with health checks at most once a second per connection (`base.DatabaseWrapper`)."""
