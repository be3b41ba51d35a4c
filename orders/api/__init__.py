"""The intake API for storefronts: JSON under /api/v1/, token authentication.

Plain Django views (the API is three operations; a framework would add more
than it saves). Every write goes through the same services as the pages, as
the API key's user, so permissions and business rules are the same.
"""
