"""The home page at `/`: one page whose sections follow the person's roles (researcher, staff teams, admin)."""
