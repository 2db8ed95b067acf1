"""``memtype top``'s full-screen view, built with Textual (``pip install 'memtype[tui]'``).

Layer: imports memtype.model, kinds, errors and output, never collect or source: the command
(``cli/commands/top.py``) wires what reads the machine into a ``tui.feed.Feed``.
"""
