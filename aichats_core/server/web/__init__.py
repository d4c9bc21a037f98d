"""The chat page's static assets (``index.html``, ``app.js``, ``app.css``), served by
``aichats serve`` at ``/`` and ``/static/``."""
