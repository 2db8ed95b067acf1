"""``memtype lab``: each kind of memory made in real child processes, then measured by memtype beside
what was made (issue 15). ``lab.memory``: the system calls (ctypes); ``lab.child``: what a child runs;
``lab.swapfile``: a temporary swapfile (root); ``lab.runner``: starting, measuring, cleaning up.

Layer: lab/ imports collect, source, parse, model, kinds, errors and the stdlib; the command renders.
"""
