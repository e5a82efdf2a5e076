"""Serving the model: the HTTP app, load generation, the headless browser."""
