"""autoresearch_tui.search"""
