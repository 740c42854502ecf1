"""Console views, one module per kind of page; each module's ``setup(app)`` adds its routes."""
