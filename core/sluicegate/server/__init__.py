"""The HTTP side: aiohttp application, API handlers, edge handling and the process runner."""
