"""Web layer of Peel: Jinja2 templates, Sass sources and static assets served by Peel itself."""
