"""autoresearch_tui.app.screens"""
