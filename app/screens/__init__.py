"""The TUI's screens: the main screen (main.py, with the figures of status.py) and the
modals on top of it: help (?), the quit question (confirm.py), one-line prompts (h, /)."""
