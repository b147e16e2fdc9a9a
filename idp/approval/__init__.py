"""The approval app (issue 14): sign-in requests approved on the citizen's phone by number matching."""
