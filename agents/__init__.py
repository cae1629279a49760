"""autoresearch_tui.agents"""
