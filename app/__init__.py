"""autoresearch_tui.app"""
