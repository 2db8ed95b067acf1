"""``memtype exporter``: the machine, its programs and its cgroups by kind, for Prometheus.

A background thread samples the machine (``Feed`` over ``memtype.Sampler.tick``, within the
sampler's CPU budget and big-process guard); a scrape turns the latest Model into fresh metric
families (``collector.MemtypeCollector``) named and labelled by the field registry
(``exporter.metrics``), and reads no file. ``serve`` holds the HTTP server (prometheus_client's WSGI
app: text format or OpenMetrics by the Accept header, gzip) and the node_exporter textfile writer;
``docs`` the README's metric list, generated from the same specs.

Layers: this package imports memtype's model, kinds, errors, output and _version, the standard
library and prometheus_client; ``memtype.cli.commands.exporter`` wires a Sampler to it.
"""
