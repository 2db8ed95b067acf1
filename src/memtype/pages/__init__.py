"""Page-level accounting (``--exact``): pagemap + kpageflags + kpagecount, vectorised with numpy.

numpy is optional (``pip install 'memtype[exact]'``); only this package imports it.
"""
