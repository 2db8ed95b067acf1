from memtype.cli.main import main

raise SystemExit(main())
