"""Resilience: error classes, retries and backoff, fallback, circuit breakers, balancing, hedging."""
