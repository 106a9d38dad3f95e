"""Glassbox's own instrumentors: HTTP attribution at the ASGI edge, LiteLLM and MCP."""
