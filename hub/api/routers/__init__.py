"""The API's routers, one module per subject; :func:`hub.api.create_app` mounts them all."""
