"""Local inference serving: codecs, dynamic batching, the ASGI app and its HTTP server."""
