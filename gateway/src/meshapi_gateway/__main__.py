"""`python -m meshapi_gateway` is the same as the `meshapi-gateway` command."""

from meshapi_gateway.cli import main

raise SystemExit(main())
