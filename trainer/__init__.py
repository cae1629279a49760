"""autoresearch_tui.trainer"""
