"""First-party providers. Each registers through the ``aichats.providers`` entry point,
exactly as a third-party plugin does; the core never imports this package."""
