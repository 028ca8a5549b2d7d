from edge_slm.cli.main import main

raise SystemExit(main())
