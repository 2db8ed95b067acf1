"""One module per command: ``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> exit code``.

``cli.main`` imports only the module of the command given (start-up time is benchmarked); the
registry of names and one-line summaries is ``cli.main.COMMANDS``.
"""
