from nexio_lite.cli import main

raise SystemExit(main())
