"""`lrface serve`: the HTTP JSON service over :mod:`lrface.api` (Starlette + uvicorn; torch-free)."""
