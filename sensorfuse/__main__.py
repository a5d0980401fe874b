from sensorfuse.cli import main

raise SystemExit(main())
