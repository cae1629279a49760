"""autoresearch_tui.briefs"""
