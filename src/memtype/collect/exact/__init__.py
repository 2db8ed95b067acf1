"""Page-level readers (``--exact``): pagemap + kpageflags + kpagecount, vectorised with numpy.

``process`` walks each process's pagemap (``memtype.collect.scan_exact`` drives it), ``system`` streams
every PFN for ``system --exact``, ``folios`` measures page-cache folio sizes for ``pressure``.
numpy is optional (``pip install 'memtype[exact]'``); it is imported only here and by
``collect.pressure`` (to test that ``folios`` can run). This package imports nothing else from
``collect`` (tests/test_layers.py).
"""
