"""Other projects' test suites run against our cache backend: Django's own cache tests (`contract`,
`make contract`) and django-redis's (`compat`, `make compat`), each fetched as the pinned version's
sdist (`sdist`)."""
