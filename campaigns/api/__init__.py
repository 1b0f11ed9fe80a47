"""REST API views: thin, each one a serializer and a service call (one module per concern).

Nothing is imported here: DRF imports `permissions` while it loads, before the views can be.
"""
