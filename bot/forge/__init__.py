"""The only code that talks to GitHub and GitLab."""
