"""Makes the repository root importable (``lifting``, ``experiments``) for the tests."""
