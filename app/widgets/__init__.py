"""autoresearch_tui.app.widgets"""
