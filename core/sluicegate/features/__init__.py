"""Optional request features shipped as default plugins: the response cache and rate limits."""
