"""Offline stand-ins for everything Imagefill talks to in production.

Used by both `imagefill demo` and the test suite, never by the production code paths:
production reaches these only through the same base-URL settings it uses for the real services.
"""
