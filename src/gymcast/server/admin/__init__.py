"""The researcher's dashboard (`/admin`): a blueprint over the same store and export code as the CLI."""

from gymcast.server.admin.routes import admin

__all__ = ["admin"]
